"""The one shape every benchmark reports in, so that ``homeward bench`` can gather them.

Each benchmark script takes ``--json FILE`` and writes a list of figures there: what was
measured, its value, the baseline measured beside it in the same run, their ratio (ours over
the baseline, so 1.0 is the ceiling for throughputs and the floor for latencies) and the
issue's target when it has one.
"""

import json
import resource
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class Figure:
    item: str  # which measurement of the performance issue: "api", "relay", "replay", ...
    name: str  # what this figure is, as a reader of the table would ask for it
    value: float
    unit: str  # "msgs/s", "ms", "MiB", ...
    baseline: float | None = None
    baseline_name: str = ""
    target: str = ""  # the target as text, e.g. "p99 < 25 ms" or ">= 0.70 of baseline"
    met: bool | None = None  # None when the figure has no target

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        return round(self.value / self.baseline, 3)  # type: ignore[operator]


def write_figures(path: Path | None, figures: list[Figure]) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps([asdict(figure) | {"ratio": figure.ratio} for figure in figures], indent=2)
    )


def peak_rss_mib() -> float:
    """This process's peak resident set size. Linux's ``VmHWM`` is of this program only,
    where ``ru_maxrss`` keeps the peak of the process it was forked from: a child started
    to measure one run on its own would report its parent's."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    (line,) = [line for line in status.splitlines() if line.startswith("VmHWM:")]
    return round(int(line.split()[1]) / 1024, 1)  # kB


FLAT = 1.2  # the most a cost may grow between two sizes and still read as flat, noise included


def growth_figure(name: str, larger_over_smaller: float) -> Figure:
    """How much a cost (time per event, peak memory) grew from a smaller log to a larger."""
    ratio = round(larger_over_smaller, 3)
    return Figure("growth", name, ratio, "x", target=f"<= {FLAT} (flat)", met=ratio <= FLAT)


def share_figure(
    item: str, name: str, value: float, unit: str, baseline: float, baseline_name: str, share: float
) -> Figure:
    """A throughput whose target is a share of its baseline's."""
    return Figure(
        item,
        name,
        round(value),
        unit,
        round(baseline),
        baseline_name,
        f">= {share:.2f} of baseline",
        value / baseline >= share,
    )
