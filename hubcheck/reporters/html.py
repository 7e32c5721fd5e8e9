"""One self-contained HTML page for a catalog run: a models x checks grid with client-side filters on top,
then a section per model (verdict, facts, every check with its fix, the probe calls), then what each check
means.

The page fetches nothing (style and script are inline, pinned by hash in its Content-Security-Policy),
so it reads the same from a ``file://`` URL, a CI artifact or a server. Everything that comes from a
report (model paths, messages, details, documentation text, even check ids) passes :func:`escape` on
its way into the markup; anchors are numbered, never made from names. No report data is embedded as
script: the filters read the markup's ``data-`` attributes.

Facts the page has no special place for (a new ``model`` key, a new report section) still show, as a
definition list, so that the page keeps up with the JSON report without a change here.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import quote, urlencode

from hubcheck.reporters.html_assets import SCRIPT, STYLE
from hubcheck.results import CONSEQUENCE_OF, CheckResult, JSONValue, Report, Status

SYMBOLS = {
    Status.PASS: "✓",
    Status.WARN: "!",
    Status.SKIP: "–",
    Status.FAIL: "✗",
    Status.ERROR: "✱",
}
NOT_RUN = "·"

# The ``model`` facts the per-model list shows in its own words.
_SHOWN_MODEL_KEYS = frozenset({
    "path", "format", "exported_by_tensorflow", "task", "task_reason", "input_sizes", "input_sizes_source",
    "batch_sizes", "batch_sizes_source", "output_width", "num_variables", "num_trainable_variables",
    "documentation", "fetch_error", "calls", "source", "source_kind",
})
# Background facts, folded under "More facts". Any other key of ``model`` (one a newer hubcheck adds: an
# export's origin, a shard) is shown in the list, as a definition list, without a change here.
_BACKGROUND_MODEL_KEYS = frozenset({
    "tags", "meta_graphs", "signatures", "call_argument_names", "call_traces", "training_values_traced",
    "load_seconds", "resolved_path", "content_hash", "archive_hash", "cached", "redirected_to",
})
# Report sections with a place of their own; any other top-level key of the JSON report is shown as a fact.
_SHOWN_REPORT_KEYS = frozenset({
    "schema_version", "hubcheck_version", "environment", "model", "status", "strict", "summary", "checks",
    "duration_s",
})
_NESTING = 4  # deeper values are shown as JSON text
_TOP_CAUSES = 8  # root causes listed at the top; the rest fold away


def escape(value: object) -> str:
    """``value`` as element content or a double-quoted attribute value: ``& < > " '`` escaped."""
    return html.escape(str(value), quote=True)


def _digest(source: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode("ascii")


CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src '{_digest(STYLE)}'; script-src '{_digest(SCRIPT)}'; "
    "img-src data:; base-uri 'none'; form-action 'none'"
)


def registry_explanations() -> dict[str, str]:
    """What ``hubcheck --explain ID`` prints for every installed check (the registry imports no TensorFlow);
    empty when the checks cannot be loaded, e.g. a report merged on a machine without a plugin."""
    from hubcheck.registry import available_checks, explain

    try:
        return {check.id: explain(check) for check in available_checks()}
    except Exception:  # a broken plugin must not cost the page: the fix texts are a help, not the report
        return {}


class HtmlReporter:
    """``explanations`` maps check ids to their ``--explain`` text; by default, the installed checks'."""

    def __init__(self, explanations: Mapping[str, str] | None = None) -> None:
        self._explanations = explanations

    def render(self, reports: Sequence[Report], *, color: bool = False) -> str:
        explanations = self._explanations if self._explanations is not None else registry_explanations()
        return _Page(reports, explanations).render()


class _Page:
    def __init__(self, reports: Sequence[Report], explanations: Mapping[str, str]) -> None:
        self.reports = reports
        self.explanations = explanations
        columns: dict[str, str] = {}  # every check id in any report, first-seen order -> its title
        for report in reports:
            for result in report.checks:
                columns.setdefault(result.id, result.title)
        self.columns = columns
        self.column_number = {check_id: number for number, check_id in enumerate(columns)}
        self.folder, self.short_names = _shared_folder([_name(report) for report in reports])

    def render(self) -> str:
        failed = sum(report.failed for report in self.reports)
        title = f"hubcheck: {_plural(len(self.reports), 'model')}, {failed} nonconformant"
        parts = [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{escape(CONTENT_SECURITY_POLICY)}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<meta name="color-scheme" content="light">',  # the colours are chosen for a light page
            '<meta name="generator" content="hubcheck">',
            '<link rel="icon" href="data:,">',  # or the browser asks the server (or file://) for /favicon.ico
            f"<title>{escape(title)}</title>",
            f"<style>{STYLE}</style>",
            "</head>",
            '<body id="top">',
            "<main>",
            *self._header(failed),
            *self._filters(),
            *self._grid(),
            *(line for number, report in enumerate(self.reports) for line in self._model(number, report)),
            *self._glossary(),
            '<footer>Made by hubcheck. Filters keep their state in the address (e.g. <code>#status=fail</code>), '
            "so a filtered view can be linked.</footer>",
            "</main>",
            f"<script>{SCRIPT}</script>",
            "</body>",
            "</html>",
        ]
        return "\n".join(parts) + "\n"

    # -- the catalog at a glance -----------------------------------------------------------------------

    def _header(self, failed: int) -> list[str]:
        reports = self.reports
        versions = sorted({report.hubcheck_version for report in reports})
        tensorflow = sorted({str(report.environment.get("tensorflow")) for report in reports
                             if report.environment.get("tensorflow")})
        meta = [_plural(len(reports), "model"), _plural(len(self.columns), "check")]
        if versions:
            meta.append("hubcheck " + ", ".join(versions))
        if tensorflow:
            meta.append("TensorFlow " + ", ".join(tensorflow))
        if any(report.strict for report in reports):
            meta.append("strict: warnings fail")
        shards = _shards(reports)
        if shards:
            meta.append(shards)
        lines = [
            "<header>",
            "<h1>hubcheck report</h1>",
            f'<p class="meta">{" · ".join(escape(item) for item in meta)}</p>',
            "</header>",
            '<div class="glance">',
            f'<div class="tile v-fail" id="count-fail"><b>{failed}</b>nonconformant</div>',
            f'<div class="tile v-pass" id="count-pass"><b>{len(reports) - failed}</b>conform</div>',
        ]
        cells = Counter(result.status for report in reports for result in report.checks)
        lines.append('<div class="tile cells"><span class="muted">checks run, by status</span><ul>')
        for status in Status:
            lines.append(f'<li><span class="pill s-{status.value}">{SYMBOLS[status]} {status.value}</span></li>'
                         f'<li class="num" data-count="{status.value}">{cells.get(status, 0)}</li>')
        lines.append("</ul></div>")
        lines += self._root_cause_tile()
        lines.append("</div>")
        lines.append('<div class="legend"><span>Legend:</span>'
                     + "".join(f'<span class="cell s-{s.value}"><span>{SYMBOLS[s]}</span></span>{s.value}'
                               for s in Status)
                     + f'<span class="cell root s-fail"><span>{SYMBOLS[Status.FAIL]}</span></span>'
                     "root cause: fix first (other failures may follow from it)"
                     f'<span class="cell s-none"><span>{NOT_RUN}</span></span>not run</div>')
        return lines

    def _root_cause_tile(self) -> list[str]:
        """Which checks are root causes in how many models: where a hub's fixes pay off most."""
        causes: Counter[str] = Counter()
        statuses: dict[str, set[str]] = {}
        for report in self.reports:
            for check_id in report.root_causes:
                causes[check_id] += 1
                statuses.setdefault(check_id, set()).add(report.result(check_id).status.value)
        if not causes:
            return ['<div class="tile causes"><span class="muted">root causes</span><p>none: no check failed</p></div>']
        items = []
        for check_id, count in causes.most_common():
            state = {"check": check_id}
            if len(statuses[check_id]) == 1:
                state["status"] = next(iter(statuses[check_id]))
            items.append(f'<li><a href="#{escape(urlencode(state, quote_via=quote))}"><code>{escape(check_id)}</code></a> '
                         f'<span class="muted">in {_plural(count, "model")}</span></li>')
        first, rest = items[:_TOP_CAUSES], items[_TOP_CAUSES:]
        lines = ['<div class="tile causes"><span class="muted">root causes (fix first), by number of models</span>',
                 f'<ol>{"".join(first)}</ol>']
        if rest:
            lines.append(f'<details><summary>{len(rest)} more</summary><ol start="{_TOP_CAUSES + 1}">{"".join(rest)}'
                         "</ol></details>")
        return [*lines, "</div>"]

    def _filters(self) -> list[str]:
        def chips(name: str, values: Iterable[tuple[str, str]], default: str) -> str:
            return "".join(
                f'<label class="chip"><input type="radio" name="{name}" value="{escape(value)}"'
                f'{" checked" if value == default else ""}><span>{label}</span></label>'
                for value, label in values
            )

        verdicts = [("all", "all"), ("fail", f"{SYMBOLS[Status.FAIL]} nonconformant"),
                    ("pass", f"{SYMBOLS[Status.PASS]} conform")]
        statuses = [("any", "any"), *((s.value, f"{SYMBOLS[s]} {s.value}") for s in
                                      (Status.FAIL, Status.ERROR, Status.WARN, Status.SKIP, Status.PASS))]
        options = "".join(f'<option value="{escape(check_id)}">{escape(check_id)}</option>' for check_id in self.columns)
        return [
            '<form id="filters" role="search" hidden autocomplete="off">',
            f'<fieldset id="filter-verdict"><legend>Verdict</legend>{chips("verdict", verdicts, "all")}</fieldset>',
            f'<fieldset id="filter-status"><legend>Has a check that is</legend>{chips("status", statuses, "any")}'
            "</fieldset>",
            f'<label><span class="label">Check</span><select name="check" id="filter-check">'
            f'<option value="">all checks</option>{options}</select></label>',
            '<label><span class="label">Model</span><input type="search" name="q" id="filter-model" '
            'placeholder="part of the name or path"></label>',
            '<button type="button" id="clear">Clear</button>',
            '<output id="shown"></output>',
            "</form>",
        ]

    def _grid(self) -> list[str]:
        head = ['<th class="corner" scope="col">model</th>', '<th class="vhead" scope="col">verdict</th>']
        for check_id, title in self.columns.items():
            state = urlencode({"check": check_id}, quote_via=quote)
            head.append(f'<th class="col" scope="col" data-check="{escape(check_id)}" title="{escape(f"{check_id}: {title}")}">'
                        f'<a href="#{escape(state)}">{escape(check_id)}</a></th>')
        head.append('<th class="finding" scope="col" hidden>finding</th>')  # shown when one check is picked
        lines = [f'<p class="folder">Models under <code>{escape(self.folder)}</code></p>'] if self.folder else []
        lines += ['<div class="grid-wrap">', '<table id="grid">', f"<thead><tr>{''.join(head)}</tr></thead>", "<tbody>"]
        for number, report in enumerate(self.reports):
            lines.append(self._grid_row(number, report))
        lines += ["</tbody>", "</table>",
                  '<p id="no-match" hidden>No model matches these filters.</p>', "</div>"]
        return lines

    def _grid_row(self, number: int, report: Report) -> str:
        name = _name(report)
        verdict = report.status.value
        by_id = {result.id: result for result in report.checks}
        causes = set(report.root_causes)
        cells = []
        for check_id in self.columns:
            result = by_id.get(check_id)
            if result is None:
                cells.append(f'<td class="cell s-none" data-check="{escape(check_id)}" data-status="none" '
                             f'title="{escape(f"{check_id}: not run")}"><span>{NOT_RUN}<span class="sr">not run</span>'
                             "</span></td>")
                continue
            status = result.status.value
            note = _cause_note(result, causes)
            root = check_id in causes
            tip = f"{check_id}: {status}{' (' + note + ')' if note else ''}\n{result.message}"
            cells.append(
                f'<td class="cell s-{status}{" root" if root else ""}"{" data-root=1" if root else ""} '
                f'data-check="{escape(check_id)}" data-status="{status}" title="{escape(tip)}">'
                f'<a href="#{self._check_anchor(number, check_id)}">{SYMBOLS[result.status]}'
                f'<span class="sr"> {status}{escape(", " + note) if note else ""}</span></a></td>'
            )
        return (f'<tr id="row-m{number}" data-model="m{number}" data-verdict="{verdict}" data-name="{escape(name)}">'
                f'<th scope="row" title="{escape(name)}"><a href="#m{number}">{escape(self.short_names[number])}</a></th>'
                f'<td class="verdict v-{verdict}">{SYMBOLS[report.status]} {verdict.upper()}</td>'
                f'{"".join(cells)}<td class="finding" hidden></td></tr>')

    def _check_anchor(self, number: int, check_id: str) -> str:
        return f"m{number}-c{self.column_number[check_id]}"

    # -- one model -------------------------------------------------------------------------------------

    def _model(self, number: int, report: Report) -> list[str]:
        verdict = report.status
        causes = report.root_causes
        counts = ", ".join(f"{n} {status}" for status, n in report.summary.items() if n) or "no checks"
        summary = f"{escape(counts)} in {report.duration_s:.1f} s"
        if causes:
            summary += " · fix first: " + ", ".join(
                f'<a href="#{self._check_anchor(number, check_id)}"><code>{escape(check_id)}</code></a>'
                for check_id in causes)
        if report.strict:
            summary += " · strict: warnings fail"
        root_causes = set(causes)
        lines = [
            f'<section class="model" id="m{number}" data-verdict="{verdict.value}">',
            "<header>",
            f'<span class="badge v-{verdict.value}">{SYMBOLS[verdict]} {verdict.value.upper()}</span>',
            f"<h2><code>{escape(_name(report))}</code></h2>",
            '<a class="up" href="#top">↑ back to the grid</a>',
            "</header>",
            f'<p class="summary">{summary}</p>',
            *self._facts(report),
            "<h3>Checks</h3>",
            '<table class="checks"><thead><tr><th>status</th><th>check</th><th>finding</th>'
            '<th class="num">time</th></tr></thead><tbody>',
            *(self._check_row(number, result, root_causes) for result in report.checks),
            "</tbody></table>",
            *_calls(f"m{number}-calls", report.model.get("calls")),
            f'<p class="meta">{escape(_environment(report))}</p>',
            "</section>",
        ]
        return lines

    def _facts(self, report: Report) -> list[str]:
        model = report.model
        rows: list[tuple[str, str]] = []
        if model.get("fetch_error"):
            rows.append(("Could not fetch", escape(model["fetch_error"])))
        if model.get("source") and model.get("source") != model.get("path"):
            rows.append(("Source", escape(model["source"])))
        if model.get("source_kind"):
            hashed = f"content SHA-256 {model['content_hash']}" if model.get("content_hash") else None
            rows.append(("Source kind", _with_reason(escape(model["source_kind"]), hashed)))
        format_line = escape(model.get("format", "?"))
        if model.get("exported_by_tensorflow"):
            format_line += f', exported by TensorFlow {escape(model["exported_by_tensorflow"])}'
        rows.append(("Format", format_line))
        if "task" in model:
            rows.append(("Task", _with_reason(escape(model["task"]), model.get("task_reason"))))
        if "input_sizes" in model:
            rows.append(("Sizes probed", _with_reason(_sizes(model["input_sizes"]), model.get("input_sizes_source"))))
        if "batch_sizes" in model:
            rows.append(("Batch sizes", _with_reason(_value(model["batch_sizes"]), model.get("batch_sizes_source"))))
        if "output_width" in model:
            rows.append(("N (output width)", _value(model["output_width"])))
        if "num_variables" in model:
            rows.append(("Variables", f'{_value(model["num_variables"])} '
                                      f'({_value(model.get("num_trainable_variables"))} trainable)'))
        if "documentation" in model:
            rows.append(("Documentation", _documentation(model["documentation"])))
        newer = {key: value for key, value in model.items()
                 if key not in _SHOWN_MODEL_KEYS and key not in _BACKGROUND_MODEL_KEYS}
        newer.update((key, value) for key, value in report.to_json().items() if key not in _SHOWN_REPORT_KEYS)
        rows += [(key.replace("_", " ").capitalize(), _value(value)) for key, value in newer.items()]
        lines = ['<dl class="facts">', *(f"<dt>{escape(term)}</dt><dd>{definition}</dd>" for term, definition in rows),
                 "</dl>"]
        more = {key: value for key, value in model.items() if key in _BACKGROUND_MODEL_KEYS}
        if more:
            lines += ['<details class="more"><summary>More facts (signatures, traces, where it was read)</summary>',
                      _mapping(more), "</details>"]
        return lines

    def _check_row(self, number: int, result: CheckResult, causes: set[str]) -> str:
        status = result.status.value
        root = " root" if result.id in causes else ""
        note = _cause_note(result, causes)
        finding = [f"<div>{escape(result.message)}</div>"]
        if note and not root:  # a root cause says so in its status
            finding.append(f'<span class="cause">{escape(note)}</span>')
        if result.details:
            finding.append(f'<details class="details"><summary>details</summary>{_mapping(result.details)}</details>')
        bad = result.status in (Status.FAIL, Status.ERROR, Status.WARN)
        explanation = self.explanations.get(result.id)
        glossary = f"#check-{self.column_number[result.id]}"
        if bad and explanation:
            finding.append(f'<details class="fix" open><summary>How to fix (<code>hubcheck --explain '
                           f'{escape(result.id)}</code>)</summary><pre>{_fix_text(explanation)}</pre></details>')
        title = f'<span class="title">{escape(result.title)} · <a href="{glossary}">about</a></span>'
        label = f"{SYMBOLS[result.status]} {status}" + (" · root cause" if root else "")
        return (f'<tr id="{self._check_anchor(number, result.id)}" data-check="{escape(result.id)}" '
                f'data-status="{status}"><td class="status"><span class="pill s-{status}{root}">{label}</span></td>'
                f'<td class="id"><code>{escape(result.id)}</code>{title}</td><td>{"".join(finding)}</td>'
                f'<td class="num">{result.duration_s:.2f} s</td></tr>')

    # -- what each check means -------------------------------------------------------------------------

    def _glossary(self) -> list[str]:
        lines = ['<section id="checks">', "<h2>The checks (<code>hubcheck --explain ID</code>)</h2>", "<dl>"]
        for check_id, title in self.columns.items():
            explanation = self.explanations.get(check_id)
            body = (f"<pre>{_fix_text(explanation)}</pre>" if explanation
                    else '<p class="muted">No explanation: this check is not installed where the report was made '
                         "into a page.</p>")
            lines.append(f'<dt id="check-{self.column_number[check_id]}"><code>{escape(check_id)}</code> '
                         f"{escape(title)}</dt><dd>{body}</dd>")
        lines += ["</dl>", "</section>"]
        return lines


# -- values ----------------------------------------------------------------------------------------------


def _name(report: Report) -> str:
    return str(report.model.get("path", "?"))


def _shared_folder(names: Sequence[str]) -> tuple[str, list[str]]:
    """The folder all of several model paths share, and each path under it: the grid's model column is
    narrow, and cut at its end, names that differ only after a long shared folder look the same."""
    if len(names) < 2:
        return "", list(names)
    folder = os.path.commonprefix(list(names))
    folder = folder[: folder.rfind("/") + 1]
    short = [name[len(folder):] for name in names]
    if not folder or not all(short):
        return "", list(names)
    return folder, short


def _shards(reports: Sequence[Report]) -> str | None:
    """"shards 1/4, 2/4 of a catalog of 43 models" when the reports say which ``--shard`` checked them."""
    shards = [shard for report in reports if isinstance(shard := report.model.get("shard"), Mapping)]
    slices = sorted({(shard["index"], shard["count"]) for shard in shards
                     if isinstance(shard.get("index"), int) and isinstance(shard.get("count"), int)})
    if not slices:
        return None
    sizes = {shard.get("catalog_models") for shard in shards}
    size = sizes.pop() if len(sizes) == 1 else None
    catalog = f" of a catalog of {_plural(size, 'model')}" if isinstance(size, int) else ""
    return f"{'shard' if len(slices) == 1 else 'shards'} {', '.join(f'{i}/{n}' for i, n in slices)}{catalog}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _cause_note(result: CheckResult, causes: set[str]) -> str:
    """"root cause", or "follows from X" for a failure that is a consequence of another failing check, else ""."""
    cause = result.details.get(CONSEQUENCE_OF)
    if result.status in (Status.FAIL, Status.ERROR) and result.id not in causes and isinstance(cause, str):
        return f"follows from {cause}"
    return "root cause" if result.id in causes else ""


def _with_reason(value: str, reason: JSONValue) -> str:
    return value + (f'<div class="why">{escape(reason)}</div>' if reason else "")


def _sizes(sizes: JSONValue) -> str:
    if isinstance(sizes, list) and all(isinstance(size, list) and len(size) == 2 for size in sizes):
        return escape(", ".join(f"{height}×{width}" for height, width in sizes))
    return _value(sizes)


def _fix_text(explanation: str) -> str:
    """The ``--explain`` text, escaped, with its "Fix:" set off."""
    return escape(explanation).replace("Fix:", "<strong>Fix:</strong>", 1)


def _environment(report: Report) -> str:
    versions = [f"{name} {value}" for name, value in report.environment.items() if value is not None]
    return " · ".join([f"hubcheck {report.hubcheck_version}", *versions])


# The documentation's facts as the page names them; each shows the doc's own words under it.
_DOC_FACTS = {"task": "task", "fine_tunable": "fine-tunable", "input_size": "input size", "num_outputs": "N (outputs)",
              "value_range": "input range", "format": "format", "arguments": "arguments"}


def _documentation(doc: JSONValue) -> str:
    """What the model's documentation states, each fact with the sentence or entry it was read from."""
    if not isinstance(doc, Mapping):
        return _value(doc)
    evidence = doc.get("evidence") if isinstance(doc.get("evidence"), Mapping) else {}
    assert isinstance(evidence, Mapping)
    rows = []
    for key, label in _DOC_FACTS.items():
        if key not in doc:
            continue
        value = doc[key]
        if key == "input_size" and isinstance(value, Mapping) and {"height", "width"} <= set(value):
            shown = escape(f"{value['height']}×{value['width']}") + (" (fixed)" if value.get("fixed") else
                                                                      " (other sizes possible)")
        elif key == "value_range" and isinstance(value, list) and len(value) == 2:
            shown = escape(f"[{value[0]:g}, {value[1]:g}]" if all(isinstance(v, (int, float)) for v in value) else value)
        elif value is None:
            shown = '<span class="null">not stated</span>'
        else:
            shown = _value(value, 1)
        rows.append((label, _with_reason(shown, evidence.get(key))))
    for key, value in doc.items():  # statements the page has no name for (e.g. a conflict the linter judges)
        if key not in _DOC_FACTS and key not in ("path", "kind", "evidence"):
            rows.append((key.replace("_", " "), _value(value, 1)))
    for key, value in evidence.items():
        if key not in _DOC_FACTS:
            rows.append((f"says ({key.replace('_', ' ')})", escape(value)))
    source = f"<div>{escape(doc.get('path', '?'))} <span class=\"muted\">({escape(doc.get('kind', '?'))})</span></div>"
    items = "".join(f"<dt>{escape(term)}</dt><dd>{definition}</dd>" for term, definition in rows)
    return f'{source}<dl class="value doc">{items}</dl>'


def _calls(anchor: str, calls: JSONValue) -> list[str]:
    """The probe's forward passes: what went in, what came out, how long it took."""
    if not isinstance(calls, list) or not calls:
        return [f'<h3 id="{anchor}">Probe calls</h3>', '<p class="muted">No forward pass was recorded.</p>']
    rows = []
    total = 0.0
    for call in calls:
        if not isinstance(call, Mapping):
            rows.append(f'<tr><td colspan="3">{_value(call)}</td></tr>')
            continue
        seconds = call.get("seconds")
        if isinstance(seconds, (int, float)):
            total += seconds
        rows.append(f'<tr><td class="mono">{escape(call.get("input", ""))}</td><td class="mono">'
                    f'{_value(call.get("result"))}</td><td class="num">{_seconds(seconds)}</td></tr>')
    return [f'<h3 id="{anchor}">Probe calls <span class="muted">({len(calls)}, {total:.3f} s in all)</span></h3>',
            '<table class="calls"><thead><tr><th>input</th><th>result</th><th class="num">seconds</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>']


def _seconds(value: JSONValue) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else _value(value)


def _value(value: JSONValue, depth: int = 0) -> str:
    """Any JSON value as markup: scalars as text, lists of scalars joined, mappings as definition lists."""
    if value is None:
        return '<span class="null">—</span>'
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return escape(value)
    if isinstance(value, str):
        return f"<pre>{escape(value)}</pre>" if "\n" in value or len(value) > 160 else escape(value)
    if depth >= _NESTING:
        return f"<pre>{escape(json.dumps(value, indent=1, ensure_ascii=False, default=str))}</pre>"
    if isinstance(value, Mapping):
        return _mapping(value, depth) if value else '<span class="null">none</span>'
    if isinstance(value, (list, tuple)):
        if not value:
            return '<span class="null">none</span>'
        if all(item is None or isinstance(item, (str, int, float, bool)) for item in value) and not any(
                isinstance(item, str) and ("\n" in item or len(item) > 160) for item in value):
            return ", ".join(_value(item, depth + 1) for item in value)
        if all(isinstance(item, list) for item in value):
            return escape(", ".join(json.dumps(item, ensure_ascii=False, default=str) for item in value))
        return '<ol class="items">' + "".join(f"<li>{_value(item, depth + 1)}</li>" for item in value) + "</ol>"
    return escape(value)


def _mapping(mapping: Mapping[str, JSONValue], depth: int = 0) -> str:
    items = "".join(f"<dt>{escape(key)}</dt><dd>{_value(item, depth + 1)}</dd>" for key, item in mapping.items())
    return f'<dl class="value">{items}</dl>'


__all__ = ["HtmlReporter", "registry_explanations"]
