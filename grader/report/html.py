"""DIR/report.html: one self-contained page about a graded class, with plots where a TA would rather look than read."""

from __future__ import annotations

import functools
import io
import re
import statistics
from collections import Counter, defaultdict
from pathlib import Path

from grader.classrun import NEEDS_REGRADE, BatchRun, ClassSource, Graded, SimilarPair
from grader.files import write_atomic
from grader.inert import clean
from grader.report.common import number, section_points, sections_of
from grader.results import Isolation

ATTENTION = ("crashed", "timeout", NEEDS_REGRADE, "unreadable")
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _pct(x: float, total: float) -> float:
    return 100 * x / total if total else 0.0


def _svg(fig) -> str:
    """The figure as inline SVG text: text stays text, ids are stable, no date stamp."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "mlgrader"}):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _figure(height: float):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, height), dpi=96)
    fig.patch.set_alpha(0)
    return fig, fig.add_subplot()


def histogram_svg(percents: list[float]) -> str:
    fig, ax = _figure(2.8)
    ax.hist(percents, bins=[i * 10 for i in range(11)], color="#3b6ea8", edgecolor="white")
    ax.set_xlim(0, 100)
    ax.set_xlabel("score (% of the maximum)")
    ax.set_ylabel("submissions")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


def bars_svg(labels: list[str], values: list[float], xlabel: str) -> str:
    """Horizontal bars, 0-100 %, worst first: where the class struggles is at the top."""
    fig, ax = _figure(0.6 + 0.32 * max(1, len(labels)))
    colors = ["#c0392b" if v < 50 else "#e0a526" if v < 80 else "#2e8b57" for v in values]
    ax.barh(range(len(labels)), values, color=colors)
    ax.set_yticks(range(len(labels)), [lab if len(lab) <= 60 else lab[:57] + "..." for lab in labels])
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel(xlabel)
    for y, v in enumerate(values):
        ax.text(min(v + 1, 92), y, f"{v:.0f}%", va="center", fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


def _results(run: BatchRun) -> list[Graded]:
    return [g for g in run.graded if g.result is not None]


def item_rates(run: BatchRun) -> list[tuple[str, float, int]]:
    """("1.2 name", mean % of the item's points earned, submissions where it ran) per rubric item; worst first."""
    earned: dict[str, list[float]] = defaultdict(list)
    order: dict[str, int] = {}
    for g in _results(run):
        for n, item in enumerate(g.result.items):
            if item.status == "skipped" or not item.max_score:
                continue
            label = f"{item.number} {item.name}"
            order.setdefault(label, n)
            earned[label].append(_pct(item.score, item.max_score))
    rows = [(label, statistics.fmean(v), len(v)) for label, v in earned.items()]
    return sorted(rows, key=lambda r: (r[1], order[r[0]]))


def section_rates(run: BatchRun) -> list[tuple[str, float]]:
    """(section, mean % of its points earned) over the submissions where the section counted."""
    out = []
    for section in sections_of(run):
        fracs = []
        for g in _results(run):
            top = sum(i.max_score for i in g.result.items if i.section == section)
            if top:
                fracs.append(_pct(section_points(g, section), top))
        if fracs:  # an optional section that ran nowhere (the GPU one on CPUs) is left out
            out.append((section, statistics.fmean(fracs)))
    return out


def failure_reasons(run: BatchRun) -> tuple[list[tuple], list[tuple]]:
    """([(check, reason, example, submissions)], [(check, hint, submissions)]), most common first; a check
    is "1.2 name" as the rubric has it. Numbers are blanked out to group the same mistake made with
    different values."""
    reasons: dict[tuple[str, str], set] = defaultdict(set)
    example: dict[tuple[str, str], str] = {}
    hints: dict[tuple[str, str], set] = defaultdict(set)
    for g in _results(run):
        for item in g.result.items:
            if item.status in ("passed", "skipped"):
                continue
            check = f"{item.number} {item.name}"
            for hint in item.hints:  # typed: a student's own message saying "hint:" is never one
                hints[(check, hint)].add(g.submission.key)
            for line in item.feedback:
                if re.fullmatch(r"\d+ of \d+ cases passed", line) or line.startswith(("not graded", "not reached")):
                    continue  # a tally, or a check that never ran: listed under "needs attention"
                key = (check, _NUMBER.sub("#", line.split(" — hint:", 1)[0]))
                reasons[key].add(g.submission.key)
                example.setdefault(key, line)
    common = sorted(((k[0], k[1], example[k], sorted(v)) for k, v in reasons.items()),
                    key=lambda r: (-len(r[3]), r[0], r[1]))
    known = sorted(((k[0], k[1], sorted(v)) for k, v in hints.items()), key=lambda r: (-len(r[2]), r[0], r[1]))
    return common[:20], known[:20]


GUESSED = "graded under a name taken from the file"


def unused(source: ClassSource) -> list[tuple[str, str, str]]:
    """(entry, what, why) for every file of the source not graded as a known student's: refused archive
    entries, files that are not submissions, and files graded under a name guessed from their own."""
    rows = [(r.entry, "refused archive entry", r.reason) for r in source.refused]
    rows += [(r.entry, "not graded", r.reason) for r in source.ignored]
    rows += [(s.shown_as, GUESSED, s.note) for s in source.submissions if s.note]
    return rows


def attention(run: BatchRun) -> list[tuple[str, str, str]]:
    """(submission, what, why) for what a person must look at: the files of the source not graded as a
    known student's first, then submissions left out, failed or graded with less isolation."""
    rows = unused(run.source)
    rows += [(s.key, "not graded yet", "left out by --only") for s in run.left_out]
    for g in run.graded:
        if g.status in ATTENTION:
            rows.append((g.submission.key, g.status, g.message or (g.result.error if g.result else "") or ""))
        elif g.result and g.result.isolation_level in (Isolation.REDUCED, Isolation.AS_ROOT):
            rows.append((g.submission.key, "reduced isolation", g.result.isolation))
    for p in run.similar:
        rows.append((f"{p.a}, {p.b}", "similar code", f"{100 * p.score:.0f}% of fingerprints shared; see Similar code"))
    return rows


def diff_table(p: SimilarPair) -> str:
    """Side by side, differences highlighted (difflib escapes the code it shows)."""
    import difflib

    return difflib.HtmlDiff(tabsize=4, wrapcolumn=72).make_table(
        p.code_a.splitlines(), p.code_b.splitlines(), p.a, p.b, context=False)


def render_html(run: BatchRun) -> str:
    results = _results(run)
    percents = [_pct(g.result.score, g.result.max_score) for g in results]
    tests = item_rates(run)
    sections = section_rates(run)
    common, hints = failure_reasons(run)
    counts = Counter(g.status for g in run.graded)
    slowest = sorted(results, key=lambda g: -g.result.duration_s)[:10]
    return _template(TEMPLATE).render(
        run=run, title=run.rubric.title, counts=sorted(counts.items()), n=len(run.graded),
        similar=[(p, diff_table(p)) for p in run.similar], unused=len(unused(run.source)),
        mean=statistics.fmean(percents) if percents else 0.0,
        median=statistics.median(percents) if percents else 0.0,
        histogram=histogram_svg(percents) if percents else "",
        tests_svg=bars_svg([t[0] for t in tests], [t[1] for t in tests], "points earned (%)") if tests else "",
        sections_svg=bars_svg([s[0] for s in sections], [s[1] for s in sections], "points earned (%)") if sections else "",
        tests=tests, common=common, hints=hints, slowest=slowest, attention=attention(run),
        students=sorted(run.graded, key=lambda g: g.submission.key), pct=_pct, number=number,
    )


def _inert(value):
    return type(value)(clean(value)) if isinstance(value, str) else value


_DEFINES = re.compile(r"^(?:async\s+def|def|class)\s+([A-Za-z_]\w*)|^([A-Za-z_]\w*)\s*(?::[^=\n]*)?=(?!=)", re.MULTILINE)


def place_checks(items, cells) -> tuple[dict[int, list], list]:
    """({cell index: [items]}, items placed nowhere): a check goes beside the cell that defines the name its
    rubric item starts with ("softmax: values ..." beside `def softmax`), the last such cell if several."""
    defined: dict[str, int] = {}
    for n, (kind, source) in enumerate(cells):
        if kind == "code":
            for m in _DEFINES.finditer(source):
                defined[m.group(1) or m.group(2)] = n
    placed: dict[int, list] = defaultdict(list)
    loose = []
    for item in items:
        name = re.match(r"\s*([A-Za-z_]\w*)", item.name)
        cell = defined.get(name.group(1)) if name else None
        if cell is None:
            loose.append(item)
        else:
            placed[cell].append(item)
    return placed, loose


@functools.lru_cache(maxsize=4)
def _template(text: str):
    """Compiled once: a batch renders one feedback page per student. Every value shown goes through
    clean() before it is escaped: no control characters in the page."""
    import jinja2

    return jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, finalize=_inert).from_string(text)


def feedback_html(result, cells: tuple[tuple[str, str], ...]) -> str:
    """A student's own notebook as one page, each visible check's result beside the cell it grades; hidden
    checks are counted, not shown (as in feedback.txt)."""
    from markdown_it import MarkdownIt

    visible = [i for i in result.items if i.visibility == "visible"]
    placed, loose = place_checks(visible, cells)
    md = MarkdownIt("commonmark", {"html": False})  # raw HTML in a student's markdown stays text
    shown = [(kind, md.render(source) if kind == "markdown" else source, placed.get(n, ()))
             for n, (kind, source) in enumerate(cells)]
    return _template(FEEDBACK).render(
        r=result, cells=shown, loose=loose, hidden=len(result.items) - len(visible), number=number,
        pct=_pct(result.score, result.max_score))


def write_report(run: BatchRun, path: str | Path) -> None:
    write_atomic(path, render_html(run))


# Both pages: no script, no remote resource of any kind (the CSP), whatever a value slips through.
_HEAD = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
"""

TEMPLATE = _HEAD + """<title>{{ title }}: class report</title>
<style>
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; max-width: 980px;
       margin: 2em auto; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
.muted { color: #666; } .cards { display: flex; gap: 1em; flex-wrap: wrap; margin: 1em 0; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: .6em 1em; min-width: 8em; }
.card b { display: block; font-size: 1.5em; }
figure { margin: 1em 0; } figure svg { max-width: 100%; height: auto; display: block; }
figcaption { color: #555; font-size: .9em; }
table { border-collapse: collapse; width: 100%; margin: .5em 0; font-size: .92em; }
th, td { text-align: left; padding: .3em .6em; border-bottom: 1px solid #eee; vertical-align: top; }
th { background: #f6f6f6; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.s-graded { color: #2e7d32; } .s-unreadable, .s-timeout, .s-crashed, .s-needs { color: #b71c1c; font-weight: 600; }
code { font-size: .9em; }
.diff { overflow-x: auto; } table.diff { font: 12px/1.3 ui-monospace, monospace; width: auto; }
table.diff td { padding: 0 .4em; border: 0; white-space: pre; } table.diff th { font-size: 12px; }
.diff_add { background: #d8f5d8; } .diff_chg { background: #fdf1c5; } .diff_sub { background: #f8d7d7; }
.diff_next { display: none; } .pair h3 { font-size: 1em; margin-bottom: .3em; }
</style>
</head>
<body>
<h1>{{ title }}</h1>
<p class="muted" id="header">{{ n }} submission(s) from a {{ run.source.kind }} source: {% for status, c in counts %}{{ c }} {{ status }}{{ ", " if not loop.last }}{% endfor %}; assignment <code>{{ run.rubric.assignment }}</code>.
{{ run.graded_now }} of them went through this run ({{ "%.0f"|format(run.seconds) }} s){% if n > run.graded_now %}, the other {{ n - run.graded_now }} come from the journal of an earlier run{% endif %}.
{% if unused %}<b>{{ unused }} file(s) of the source were not graded as a known student's: see Needs attention.</b>{% endif %}</p>

<div class="cards" id="summary">
  <div class="card"><b>{{ "%.1f"|format(mean) }}%</b>mean score</div>
  <div class="card"><b>{{ "%.1f"|format(median) }}%</b>median score</div>
  {% for status, c in counts %}<div class="card"><b>{{ c }}</b>{{ status }}</div>{% endfor %}
  {% if similar %}<div class="card"><b>{{ similar|length }}</b>similar pair(s)</div>{% endif %}
</div>

<h2>Needs attention</h2>
<table id="attention"><thead><tr><th>submission or file</th><th>what</th><th>why</th></tr></thead><tbody>
{% for key, what, why in attention %}<tr><td>{{ key }}</td><td>{{ what }}</td><td>{{ why }}</td></tr>
{% else %}<tr><td colspan="3">Nothing: every file was graded normally, in full isolation.</td></tr>{% endfor %}
</tbody></table>

<h2>Scores</h2>
{% if histogram %}<figure id="histogram">{{ histogram|safe }}<figcaption>Scores of every submission with a result, in 10% bins.</figcaption></figure>
{% else %}<p>No submission has a result yet.</p>{% endif %}

<h2>Points per rubric item</h2>
{% if tests_svg %}<figure id="tests">{{ tests_svg|safe }}<figcaption>Mean share of each item's points earned, over the submissions where it ran. Worst first.</figcaption></figure>{% endif %}

<h2>Points per section</h2>
{% if sections_svg %}<figure id="sections">{{ sections_svg|safe }}<figcaption>Mean share of each section's points earned.</figcaption></figure>{% endif %}

<h2>Recognised mistakes</h2>
<table id="hints"><thead><tr><th>check</th><th>hint given</th><th>submissions</th><th>who</th></tr></thead><tbody>
{% for check, hint, who in hints %}<tr><td>{{ check }}</td><td>{{ hint }}</td><td class="num">{{ who|length }}</td><td>{{ who|join(", ") }}</td></tr>
{% else %}<tr><td colspan="4">No known mistake was recognised.</td></tr>{% endfor %}
</tbody></table>

<h2>Most common failure reasons</h2>
<table id="reasons"><thead><tr><th>check</th><th>reason (numbers as #)</th><th>example</th><th>submissions</th><th>who</th></tr></thead><tbody>
{% for check, reason, example, who in common %}<tr><td>{{ check }}</td><td>{{ reason }}</td><td class="muted">{{ example }}</td><td class="num">{{ who|length }}</td><td>{{ who[:12]|join(", ") }}{% if who|length > 12 %} and {{ who|length - 12 }} more{% endif %}</td></tr>
{% else %}<tr><td colspan="5">No failures.</td></tr>{% endfor %}
</tbody></table>

<h2 id="similar-code">Similar code</h2>
<p class="muted">Pairs whose graded code is the same or nearly after names, comments, docstrings and formatting are
normalised away and the code of the release notebook is left out (winnowed token fingerprints, as MOSS does).
The score is the share of the smaller submission's fingerprints found in the other. A high score is a
reason to look, not a verdict.</p>
{% for p, table in similar %}<section class="pair" id="pair-{{ loop.index }}"><h3>{{ p.a }} and {{ p.b }}: {{ "%.0f"|format(100 * p.score) }}% ({{ p.shared }} fingerprints shared)</h3>
<div class="diff">{{ table|safe }}</div></section>
{% else %}<p id="no-similar">No pair of submissions shares most of its code.</p>{% endfor %}

<h2>Slowest submissions</h2>
<table id="slowest"><thead><tr><th>submission</th><th>seconds</th><th>worker peak MB</th><th>status</th></tr></thead><tbody>
{% for g in slowest %}<tr><td>{{ g.submission.key }}</td><td class="num">{{ "%.1f"|format(g.result.duration_s) }}</td><td class="num">{{ "%.0f"|format(g.result.worker_peak_mb) }}</td><td>{{ g.status }}</td></tr>{% endfor %}
</tbody></table>

<h2>Every submission</h2>
<table id="students"><thead><tr><th>submission</th><th>student(s)</th><th>score</th><th>%</th><th>status</th><th>late</th><th>feedback</th></tr></thead><tbody>
{% for g in students %}<tr><td>{{ g.submission.key }}</td><td>{{ g.submission.students|map(attribute="name")|select|join(", ") or g.submission.students|map(attribute="id")|join(", ") }}</td>
{% if g.result %}<td class="num">{{ number(g.result.score) }} / {{ number(g.result.max_score) }}</td><td class="num">{{ "%.0f"|format(pct(g.result.score, g.result.max_score)) }}</td>
{% else %}<td class="num">-</td><td class="num">-</td>{% endif %}
<td class="s-{{ g.status.split()[0] }}">{{ g.status }}</td><td>{{ "late" if g.submission.late else "" }}</td>
<td><a href="{{ g.submission.key }}/feedback.html">feedback.html</a> <a href="{{ g.submission.key }}/feedback.txt">.txt</a></td></tr>{% endfor %}
</tbody></table>
</body>
</html>
"""

FEEDBACK = _HEAD + """<title>{{ r.title }}: feedback</title>
<style>
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; max-width: 1150px;
       margin: 2em auto; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: .2em; } .muted { color: #666; }
.cell { display: flex; gap: 1em; margin: .6em 0; align-items: flex-start; }
.src { flex: 3; min-width: 0; } .checks { flex: 2; min-width: 0; }
pre { background: #f6f8fa; border: 1px solid #e3e6ea; border-radius: 4px; padding: .5em .7em; margin: 0;
      overflow-x: auto; font: 12.5px/1.4 ui-monospace, monospace; }
.md { padding: 0 .7em; } .check { border-left: 4px solid #bbb; padding: .2em .6em; margin-bottom: .4em;
      background: #fafafa; font-size: .9em; }
.check.passed { border-color: #2e8b57; } .check.partial { border-color: #e0a526; } .check.failed { border-color: #c0392b; }
.check.skipped { border-color: #bbb; } .check b { display: block; } .why { margin: .2em 0 0; padding-left: 1.1em; }
.total { font-size: 1.2em; font-weight: 600; }
</style>
</head>
<body>
<h1>{{ r.title }}</h1>
<p class="muted">{{ r.submission }}</p>
<p class="total">Total: {{ number(r.score) }} / {{ number(r.max_score) }} ({{ "%.1f"|format(pct) }}%)</p>
{% if r.error %}<p><b>Not graded:</b> {{ r.error }}</p>{% endif %}
{% for note in r.notes %}<p class="muted">note: {{ note }}</p>{% endfor %}
{% if hidden %}<p class="muted">{{ hidden }} hidden check(s) are not shown; they count toward the final grade.</p>{% endif %}
{% macro check(i) %}<div class="check {{ i.status }}"><b>{{ i.number }} {{ i.name }}: {% if i.status == "skipped" %}-{% else %}{{ number(i.score) }}/{{ number(i.max_score) }}{% endif %} ({{ i.status }})</b>
{% if i.feedback %}<ul class="why">{% for f in i.feedback[:4] %}<li>{{ f }}</li>{% endfor %}{% if i.feedback|length > 4 %}<li>(+{{ i.feedback|length - 4 }} more)</li>{% endif %}</ul>{% endif %}</div>{% endmacro %}
{% if loose %}<div class="cell"><div class="src"><p class="muted">Checks not tied to one cell of your notebook:</p></div>
<div class="checks">{% for i in loose %}{{ check(i) }}{% endfor %}</div></div>{% endif %}
{% for kind, body, checks in cells %}<div class="cell"><div class="src">{% if kind == "markdown" %}<div class="md">{{ body|safe }}</div>{% else %}<pre>{{ body }}</pre>{% endif %}</div>
<div class="checks">{% for i in checks %}{{ check(i) }}{% endfor %}</div></div>
{% endfor %}
</body>
</html>
"""
