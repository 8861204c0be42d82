"""Every benchmark of the performance issue, one after the other, each beside its baseline
measured in the same run: ``homeward bench`` (or ``make bench``).

Runs each script of ``BENCHMARKS`` with ``--json``, gathers their figures, prints one table
(figure, value, baseline, ratio, target, met) and writes it all as JSON with the machine it
ran on and the load average before and after, since figures from a busy machine mean little.
It never asserts a timing: a missed target is a row that says so.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent

# Each script with the arguments that keep the whole run under 15 minutes on two cores.
BENCHMARKS: dict[str, list[str]] = {
    "api_load.py": ["--rates", "50", "200", "500", "--seconds", "15"],
    "end_to_end.py": ["--rates", "50", "200", "--seconds", "15"],
    "relay_throughput.py": [],
    "replay_throughput.py": [],
    "case_history.py": [],
    "append.py": [],
}


def machine() -> dict[str, Any]:
    memory_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpus": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "system": platform.platform(),
        "python": platform.python_version(),
    }


def run(script: str, arguments: list[str], into: Path) -> tuple[list[dict[str, Any]], float, int]:
    output = into / f"{Path(script).stem}.json"
    began = time.monotonic()
    print(f"\n=== {script} {' '.join(arguments)}", flush=True)
    finished = subprocess.run(
        [sys.executable, str(BENCH / script), *arguments, "--json", str(output)],
        cwd=BENCH.parent,
        check=False,
    )
    seconds = round(time.monotonic() - began, 1)
    figures = json.loads(output.read_text()) if output.exists() else []
    return figures, seconds, finished.returncode


def table(figures: list[dict[str, Any]]) -> str:
    lines = [
        f"{'item':<8}{'figure':<58}{'value':>18}{'baseline':>12}{'ratio':>8}  target",
    ]
    for f in figures:
        baseline = "" if f["baseline"] is None else f"{f['baseline']:g}"
        ratio = "" if f["ratio"] is None else f"{f['ratio']:.2f}"
        verdict = {True: "met", False: "MISSED", None: ""}[f["met"]]
        target = f"{f['target']} {verdict}".strip()
        lines.append(
            f"{f['item']:<8}{f['name'][:57]:<58}{f['value']:>9g} {f['unit'][:8]:<8}"
            f"{baseline:>12}{ratio:>8}  {target}"
        )
    return "\n".join(lines)


def markdown(report: dict[str, Any]) -> str:
    """The table as the README shows it."""
    lines = [
        "| item | figure | value | baseline | ratio | target |",
        "|---|---|---|---|---|---|",
    ]
    for f in report["figures"]:
        baseline = "" if f["baseline"] is None else f"{f['baseline']:,g} ({f['baseline_name']})"
        ratio = "" if f["ratio"] is None else f"{f['ratio']:.2f}"
        verdict = {True: "met", False: "**missed**", None: ""}[f["met"]]
        lines.append(
            f"| {f['item']} | {f['name']} | {f['value']:,g} {f['unit']} | {baseline} | {ratio} "
            f"| {f['target']} {verdict} |".replace("  |", " |")
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only", nargs="+", choices=sorted(BENCHMARKS), help="run only these scripts"
    )
    parser.add_argument(
        "--json", type=Path, default=Path("var/bench/results.json"), help="where to write"
    )
    args = parser.parse_args()
    chosen = {name: BENCHMARKS[name] for name in (args.only or BENCHMARKS)}
    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "load_average_before": os.getloadavg(),
        "scripts": {},
        "figures": [],
    }
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="homeward-bench-") as folder:
        for script, arguments in chosen.items():
            figures, seconds, code = run(script, arguments, Path(folder))
            report["scripts"][script] = {"seconds": seconds, "exit_code": code}
            report["figures"] += figures
    report["load_average_after"] = os.getloadavg()
    report["seconds"] = round(time.monotonic() - began, 1)
    print("\n" + table(report["figures"]))
    print(
        f"\n{report['date']}, {report['machine']['cpus']} CPUs ({report['machine']['cpu']}), "
        f"{report['machine']['memory_gib']} GiB; load average before "
        f"{report['load_average_before'][0]:.2f}, after {report['load_average_after'][0]:.2f}; "
        f"{report['seconds']:.0f} s in all"
    )
    failed = [name for name, ran in report["scripts"].items() if ran["exit_code"] != 0]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    args.json.with_suffix(".md").write_text(markdown(report) + "\n")
    print(f"written to {args.json} (and the table to {args.json.with_suffix('.md')})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
