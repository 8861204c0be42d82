"""A programme report as people read it: one self-contained HTML file with its charts drawn
inside (SVG, by matplotlib; nothing fetched), a CSV file per table, and one JSON document.

Every number shown, in a table or a chart, is one the disclosure control published: a chart
draws a hidden count as nothing and says so, it never draws the count itself.
"""

import csv
import io
import json
from pathlib import Path
from typing import Any

from jinja2 import Environment
from markupsafe import Markup
from matplotlib import rc_context
from matplotlib.figure import Figure as Chart

from services.intake.reports.tables import SEX_COLUMNS, VISITS_OVERDUE, Report, Table

METHOD = (
    "Each table counts the children released in the period (by month of release) who gave "
    "consent for statistics or monitoring, registered by the agencies in scope; places are "
    "shown by region and dates by month. Any count from 1 to {below} is shown as <{threshold}. "
    "So that none of them can be worked out from the totals, other cells of the same rows and "
    "columns are hidden as well (shown as x) until every hidden cell lies on a cycle of hidden "
    "cells; totals are hidden only when nothing else will do. Durations are counted in "
    "buckets; the median and the 90th percentile name the bucket they fall in. Children "
    "without that consent are counted in one line; erased cases in another, not broken down."
)

HTML_REPORT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Programme report {{ report.scope.first_month }} to {{ report.scope.last_month }}</title>
<style>
body { font-family: sans-serif; margin: 2em; max-width: 60em; }
table { border-collapse: collapse; font-size: 0.9em; margin-bottom: 1.5em; }
td, th { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
td:first-child, th:first-child { text-align: left; }
tr.total td { font-weight: bold; }
.charts { display: flex; flex-wrap: wrap; gap: 1em; }
.charts figure { margin: 0; max-width: 100%; }
.charts svg { max-width: 100%; height: auto; }
footer { border-top: 1px solid #ccc; margin-top: 2em; font-size: 0.85em; color: #333; }
</style></head><body>
<h1>Programme report: {{ report.scope.first_month }} to {{ report.scope.last_month }}</h1>
<p>Scope: {{ scope_words }}. Made {{ report.made_at.strftime("%Y-%m-%d %H:%M UTC") }}.</p>
<h2>Key figures</h2>
<table>{% for figure in report.figures %}
<tr><td>{{ figure.label }}</td><td>{{ figure.value }}</td></tr>{% endfor %}
</table>
<h2>Charts</h2>
<div class="charts">{% for chart in charts %}
<figure>{{ chart.svg }}<figcaption>{{ chart.caption }}</figcaption></figure>{% endfor %}
</div>
{% for table in tables %}
<h2 id="{{ table.spec.key }}">{{ table.spec.title }}</h2>
<p>Counts of {{ table.spec.counted }}.</p>
<table><tr>{% for name in table.header() %}<th>{{ name }}</th>{% endfor %}</tr>
{% for line in table.lines(report.threshold) %}
<tr class="{{ 'total' if loop.last and table.spec.column_totals else '' }}">
{% for cell in line %}<td>{{ cell }}</td>{% endfor %}</tr>{% endfor %}
</table>
{% endfor %}
<h2>Time to answer a referral</h2>
<table><tr><th>partner and service</th><th>median</th><th>90th percentile</th></tr>
{% for line in report.answer_times %}<tr>{% for cell in line %}<td>{{ cell }}</td>{% endfor %}</tr>
{% endfor %}</table>
<footer><h2>Method</h2><p>{{ method }}</p></footer>
</body></html>
"""

# Every value is escaped; the charts are the one markup let through, drawn by matplotlib.
_html = Environment(autoescape=True).from_string(HTML_REPORT)

# Fixed ids and no date in the SVG: the same report draws the same file.
SVG_SETTINGS: dict[Any, Any] = {"svg.hashsalt": "homeward-report", "svg.fonttype": "none"}
# No date (the same report draws the same file) and no RDF block naming outside vocabularies.
NO_METADATA: dict[str, Any] = dict.fromkeys(("Date", "Creator", "Format", "Type"))
COLOURS = {
    "female": "#b5446e",
    "male": "#3b6ea8",
    "hidden": "#9a9a9a",
    "met": "#3b8a4a",
    "missed": "#c0392b",
}


def method(threshold: int) -> str:
    return METHOD.format(below=threshold - 1, threshold=threshold)


def scope_words(report: Report) -> str:
    where = report.scope.agency or report.scope.country or "every agency"
    return f"{where}; threshold {report.threshold}"


def shown(table: Table, row: str, column: str) -> int | None:
    """A published count, or None where it is hidden."""
    r = table.grid.rows.index(row) if row != "total" else table.grid.height - 1
    c = table.spec.columns.index(column) if column != "total" else table.grid.width - 1
    return None if table.grid.hidden(r, c) else table.grid.values[r][c]


def _svg(chart: Chart) -> Markup:
    out = io.StringIO()
    with rc_context(SVG_SETTINGS):
        chart.savefig(out, format="svg", bbox_inches="tight", metadata=NO_METADATA)
    text = out.getvalue()
    return Markup(text[text.index("<svg") :])  # the XML prologue has no place inside HTML  # noqa: S704


def releases_by_month_chart(report: Report) -> Markup:
    table = report.by_month
    chart = Chart(figsize=(7, 3))
    axes = chart.subplots()
    months = table.grid.rows
    by_sex = {month: [shown(table, month, sex) for sex in SEX_COLUMNS] for month in months}
    whole = {month: None not in counts for month, counts in by_sex.items()}
    bottom = [0] * len(months)
    for index, sex in enumerate(SEX_COLUMNS):
        heights = [by_sex[month][index] or 0 if whole[month] else 0 for month in months]
        axes.bar(months, heights, bottom=bottom, label=sex, color=COLOURS[sex])
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    # A month whose split by sex is hidden: its total alone, where that is shown.
    totals = [0 if whole[month] else shown(table, month, "total") or 0 for month in months]
    if any(totals):
        axes.bar(months, totals, label="sex not shown", color=COLOURS["hidden"])
    marked = [month if whole[month] else f"{month}*" for month in months]
    axes.set_xticks(range(len(months)), marked, rotation=90, fontsize=7)
    axes.set_ylabel("children released")
    axes.legend(frameon=False, loc="upper left", bbox_to_anchor=(1, 1))  # beside the bars
    return _svg(chart)


def funnel_chart(report: Report) -> Markup:
    ages, handover = report.table("releases_by_age"), report.table("handover_time")
    outcomes = report.table("outcomes")
    steps = [
        ("released and counted", shown(ages, "total", "total")),
        ("handed over", shown(handover, "total", "total")),
        ("reunified", shown(outcomes, "reunified", "total")),
        ("alternative care", shown(outcomes, "alternative care", "total")),
        ("in school or training", shown(outcomes, "in school or training", "total")),
        ("earning", shown(outcomes, "earning", "total")),
    ]
    chart = Chart(figsize=(6, 3))
    axes = chart.subplots()
    labels = [label if value is not None else f"{label} (hidden)" for label, value in steps]
    axes.barh(labels[::-1], [value or 0 for _l, value in steps][::-1], color="#3b6ea8")
    axes.set_xlabel("children")
    return _svg(chart)


def deadlines_chart(report: Report) -> Markup:
    handover, care = report.table("handover_deadline"), report.table("interim_care_deadline")
    visits = report.table("visits")
    late = [
        shown(visits, row, "total")
        for row in ("done late", "missed, not done since", VISITS_OVERDUE)
    ]
    groups = [
        ("handover", shown(handover, "met", "total"), [shown(handover, "missed", "total")]),
        ("interim care", shown(care, "met", "total"), [shown(care, "missed", "total")]),
        ("follow-up visits", shown(visits, "done on time", "total"), late),
    ]
    chart = Chart(figsize=(6, 3))
    axes = chart.subplots()
    names = [name for name, _met, _missed in groups]
    met = [value or 0 for _n, value, _m in groups]
    missed = [0 if None in values else sum(v or 0 for v in values) for _n, _v, values in groups]
    positions = range(len(names))
    axes.bar([p - 0.2 for p in positions], met, width=0.4, label="met", color=COLOURS["met"])
    axes.bar(
        [p + 0.2 for p in positions], missed, width=0.4, label="missed", color=COLOURS["missed"]
    )
    axes.set_xticks(list(positions), names)
    axes.legend(frameon=False)
    return _svg(chart)


def as_html(report: Report) -> str:
    charts = [
        {
            "svg": releases_by_month_chart(report),
            "caption": "Releases per month by sex "
            "(* a month with a hidden count: its total in grey where that is shown)",
        },
        {
            "svg": funnel_chart(report),
            "caption": "From release to reunification, school and livelihood",
        },
        {
            "svg": deadlines_chart(report),
            "caption": "Deadlines met and missed (follow-up: "
            "visits done on time against done late, missed or overdue)",
        },
    ]
    return _html.render(
        report=report,
        tables=[*report.tables, report.by_month],
        charts=charts,
        scope_words=scope_words(report),
        method=method(report.threshold),
    )


def as_csv(table: Table, threshold: int) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.header())
    writer.writerows(table.lines(threshold))
    return out.getvalue()


def as_json(report: Report) -> str:
    document: dict[str, Any] = {
        "scope": {
            "first_month": report.scope.first_month,
            "last_month": report.scope.last_month,
            "country": report.scope.country,
            "agency": report.scope.agency,
        },
        "threshold": report.threshold,
        "made_at": report.made_at.isoformat(),
        "figures": {figure.label: figure.value for figure in report.figures},
        "tables": {
            table.spec.key: {
                "title": table.spec.title,
                "counted": table.spec.counted,
                "columns": table.header()[1:],
                "rows": table.published(report.threshold),
            }
            for table in [*report.tables, report.by_month]
        },
        "referral_answer_times": [
            dict(zip(("partner_and_service", "median", "p90"), line, strict=False))
            for line in report.answer_times
        ],
        "method": method(report.threshold),
    }
    return json.dumps(document, ensure_ascii=False, indent=2)


def write_report(report: Report, folder: Path) -> list[Path]:
    """``report.html``, ``report.json`` and ``<table>.csv`` for each table, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "report.html": as_html(report),
        "report.json": as_json(report),
        **{
            f"{table.spec.key}.csv": as_csv(table, report.threshold)
            for table in [*report.tables, report.by_month]
        },
    }
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return [folder / name for name in files]
