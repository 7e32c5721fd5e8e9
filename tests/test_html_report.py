"""The HTML report: its markup (no browser), then the page as a browser shows it (headless Chromium).

The catalog is every fixture model's golden report (tests/golden/reports.json), read back through
``hubcheck.catalog.load_reports``, so no test here runs TensorFlow. The browser tests skip only when no
Chromium can be found (``bash .ci/run`` installs Debian's); they save screenshots under
``$HUBCHECK_TEST_ARTIFACTS`` (default ``<repo>/test-artifacts/``, ignored by git).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from browser import Browser, find_chromium
from click.testing import CliRunner
from fakes import FakeRunner

from hubcheck.catalog import load_reports
from hubcheck.cli import main
from hubcheck.registry import explain, get_check
from hubcheck.reporters import REPORTERS, build_reporter
from hubcheck.reporters.html import CONTENT_SECURITY_POLICY, HtmlReporter, _digest, _shared_folder
from hubcheck.reporters.html_assets import SCRIPT, STYLE
from hubcheck.results import CONSEQUENCE_OF, CheckResult, JSONValue, Report, Status

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "golden" / "reports.json"
SCRIPT_PAYLOAD = "</script><script>window.__pwned = 1</script>"
ATTRIBUTE_PAYLOAD = '"><img src=x onerror="window.__pwned = 2">'
HOSTILE = f"models/{SCRIPT_PAYLOAD}{ATTRIBUTE_PAYLOAD}&amp;\u2028<!--"
CALLS = [{"input": "float32[1,224,224,3] gray", "seconds": 0.0123, "result": "float32[1,16]"},
         {"input": "float32[2,160,192,3] noise, training=True", "seconds": 0.0456, "result": "float32[2,16]"}]


def golden() -> dict[str, Any]:
    return dict(json.loads(GOLDEN.read_text(encoding="utf-8")))


def write_golden_catalog(path: Path) -> Path:
    """Every fixture's golden report as one ``{"reports": [...]}`` file, named ``models/NAME``; the golden file
    keeps neither versions nor timings nor probe calls, so those are filled in (calls for one model)."""
    reports = []
    for name, document in golden().items():
        document = json.loads(json.dumps(document).replace("<model>", f"models/{name}"))
        model = dict(document["model"], **({"calls": CALLS} if name == "feature_vector" else {}))
        reports.append({"schema_version": "1.0", "hubcheck_version": "0.1.0",
                        "environment": {"python": "3.11", "tensorflow": "2.21.0"}, "model": model,
                        "checks": document["checks"], "duration_s": 1.5, "strict": False})
    path.write_text(json.dumps({"reports": reports}), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def catalog_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_golden_catalog(tmp_path_factory.mktemp("catalog") / "catalog.json")


@pytest.fixture(scope="module")
def catalog(catalog_file: Path) -> list[Report]:
    return load_reports(catalog_file)


def hostile_report() -> Report:
    """A report whose every string a model or a doc could control carries markup and script."""
    checks = (
        CheckResult("load", "Loads", Status.PASS, f"loaded {HOSTILE}", {HOSTILE: [HOSTILE, {"k": HOSTILE}]}),
        CheckResult("output-dtype", f"Title {ATTRIBUTE_PAYLOAD}", Status.FAIL, f"bad output {HOSTILE}",
                    {"dtype": HOSTILE, "traceback": f"line 1\n{SCRIPT_PAYLOAD}"}),
        CheckResult(f"plugin-{ATTRIBUTE_PAYLOAD}", "A plugin's check", Status.FAIL, SCRIPT_PAYLOAD,
                    {CONSEQUENCE_OF: "output-dtype"}),
    )
    model: dict[str, JSONValue] = {
        "path": HOSTILE, "format": "tf2-saved-model", "exported_by_tensorflow": ATTRIBUTE_PAYLOAD,
        "task": "image-feature-vector", "task_reason": HOSTILE, "input_sizes": [[224, 224]],
        "input_sizes_source": SCRIPT_PAYLOAD, "signatures": {HOSTILE: {"inputs": HOSTILE}},
        "documentation": {"path": HOSTILE, "kind": "tfhub-markdown", "task": HOSTILE, "num_outputs": 16,
                          "evidence": {"task": HOSTILE, "channels_first": SCRIPT_PAYLOAD}},
        "calls": [{"input": HOSTILE, "seconds": 0.5, "result": HOSTILE}],
    }
    return Report("0.1.0", {"python": "3.11", "tensorflow": ATTRIBUTE_PAYLOAD}, model, checks, 1.0)


class Markup(HTMLParser):
    """The elements of a page, with their attributes, and its text, as a browser's parser would see them."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.texts: list[str] = []
        self.raw: dict[str, list[str]] = {"script": [], "style": []}
        self._in: str | None = None
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag in self.raw:
            self._in = tag
            self.raw[tag].append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in:
            self.raw[self._in][-1] += data
        else:
            self.texts.append(data)

    def tags(self, name: str) -> list[dict[str, str | None]]:
        return [attrs for tag, attrs in self.elements if tag == name]

    @property
    def text(self) -> str:
        return "".join(self.texts)


# -- the markup ------------------------------------------------------------------------------------


def test_html_is_a_format_of_check_and_merge(catalog_file: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    assert REPORTERS["html"] is HtmlReporter
    monkeypatch.chdir(tmp_path)
    merged = CliRunner().invoke(main, ["merge", str(catalog_file), "--format", "html", "--output", "all.html",
                                       "--report", "html=again.html"])
    assert merged.exit_code == 1, merged.output  # 36 of the fixtures do not conform
    page = (tmp_path / "all.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page == (tmp_path / "again.html").read_text(encoding="utf-8")
    assert len(Markup(page).tags("section")) == 43 + 1  # a section per model, and the checks' explanations
    (tmp_path / "models" / "a").mkdir(parents=True)
    fake = FakeRunner()
    fake.statuses["a"] = {"output-dtype": Status.FAIL}
    checked = CliRunner().invoke(main, ["models/a", "--format", "html"], obj=fake.factory)
    assert checked.exit_code == 1, checked.output
    assert "<code>models/a</code>" in checked.stdout and 'data-status="fail"' in checked.stdout


def test_the_page_fetches_nothing_and_runs_only_its_own_script(catalog: list[Report]) -> None:
    page = HtmlReporter().render(catalog)
    markup = Markup(page)
    assert [attrs.get("href") for attrs in markup.tags("link")] == ["data:,"]
    assert not any("src" in attrs for _, attrs in markup.elements)
    links = [attrs["href"] or "" for _, attrs in markup.elements if "href" in attrs]
    assert links and all(link.startswith("#") or link == "data:," for link in links)
    assert markup.raw["script"] == [SCRIPT] and markup.raw["style"] == [STYLE]
    policy = next(attrs["content"] for attrs in markup.tags("meta") if attrs.get("http-equiv") == "Content-Security-Policy")
    assert policy == CONTENT_SECURITY_POLICY
    assert f"script-src '{_digest(SCRIPT)}'" in policy and f"style-src '{_digest(STYLE)}'" in policy
    assert "default-src 'none'" in policy


def test_every_model_and_check_has_a_cell_and_a_row(catalog: list[Report]) -> None:
    markup = Markup(HtmlReporter().render(catalog))
    rows = [attrs for attrs in markup.tags("tr") if (attrs.get("id") or "").startswith("row-m")]
    assert [row["data-name"] for row in rows] == [f"models/{name}" for name in golden()]
    cells = [attrs for attrs in markup.tags("td") if "cell" in (attrs.get("class") or "").split()]
    expected = [(check["id"], check["status"]) for document in golden().values() for check in document["checks"]]
    assert [(cell["data-check"], cell["data-status"]) for cell in cells] == expected
    roots = [(cell["data-check"]) for cell in cells if cell.get("data-root")]
    assert roots == [check_id for document in golden().values() for check_id in document["root_causes"]]


@pytest.mark.parametrize(("names", "folder", "short"), [
    (["/m/realworld/anomaly_tf1_signature/", "/m/realworld/anomaly_tf1_train_tag/"], "/m/realworld/",
     ["anomaly_tf1_signature/", "anomaly_tf1_train_tag/"]),
    (["models/a", "models/ab"], "models/", ["a", "ab"]),
    (["models/", "models/a"], "", ["models/", "models/a"]),  # one would be left with no name
    (["a", "b"], "", ["a", "b"]),
    (["only/one"], "", ["only/one"]),
])
def test_the_grid_names_models_under_the_folder_they_share(names: list[str], folder: str, short: list[str]) -> None:
    assert _shared_folder(names) == (folder, short)


def test_grid_rows_show_the_name_under_the_shared_folder_and_keep_the_whole_path(catalog: list[Report]) -> None:
    page = HtmlReporter().render(catalog)
    assert '<p class="folder">Models under <code>models/</code></p>' in page
    assert ('<th scope="row" title="models/feature_vector"><a href="#m' in page
            and '">feature_vector</a></th>' in page)


def test_hostile_strings_are_text_not_markup() -> None:
    page = HtmlReporter().render([hostile_report()])
    markup = Markup(page)
    assert len(markup.tags("script")) == 1 and not markup.tags("img")
    assert not [(tag, name) for tag, attrs in markup.elements for name in attrs if name.startswith("on")]
    assert SCRIPT_PAYLOAD not in page and ATTRIBUTE_PAYLOAD not in page and "\u2028" in page
    assert HOSTILE in markup.text  # shown, as text, wherever it came from
    assert markup.text.count(HOSTILE) >= 8
    ids = [attrs["id"] for _, attrs in markup.elements if attrs.get("id")]
    assert len(ids) == len(set(ids)) and all(re.fullmatch(r"[a-z0-9-]+", i) for i in ids if i)


def test_facts_say_why_and_unknown_sections_still_show(catalog: list[Report]) -> None:
    @dataclasses.dataclass(frozen=True)
    class NewerReport(Report):  # a report with a section this page has no place for (an export, say)
        def to_json(self) -> dict[str, JSONValue]:
            return {**super().to_json(), "export": {"format": "tflite", "size_bytes": 1234}}

    base = next(report for report in catalog if report.model["path"] == "models/doc_wrong_task")
    shard = {"index": 2, "count": 4, "catalog_sha256": "ab" * 32, "catalog_models": 43}
    newer = NewerReport(base.hubcheck_version, base.environment,
                        {**base.model, "shard": shard, "source": "https://example.org/m.tar.gz",
                         "source_kind": "url", "content_hash": "cd" * 32}, base.checks)
    feature = next(report for report in catalog if report.model["path"] == "models/feature_vector")
    feature = dataclasses.replace(feature, model={**feature.model, "shard": {**shard, "index": 1}})
    page = HtmlReporter().render([newer, feature])
    text = Markup(page).text
    assert "shards 1/4, 2/4 of a catalog of 43 models" in text
    facts = page.split('<dl class="facts">')[1].split("</dl>\n")[0]  # the first model's list, not "More facts"
    assert "<dt>Shard</dt>" in facts and "catalog_sha256" in facts and "<dt>Export</dt>" in facts
    assert "https://example.org/m.tar.gz" in facts and f"content SHA-256 {'cd' * 32}" in facts
    assert "Task" in text and str(base.model["task_reason"]) in text
    assert "224×224, 160×192" in text and str(base.model["input_sizes_source"]) in text
    assert "N (output width)16" in text
    assert "image-segmentation<!-- task: image-segmentation -->" in text  # the doc's fact and its own words
    assert "Exportformattflitesize_bytes1234" in text
    assert f"Shardindex2count4catalog_sha256{'ab' * 32}catalog_models43" in text
    assert "Probe calls (2, 0.058 s in all)" in text and "float32[2,160,192,3] noise, training=True" in text


def test_each_problem_shows_the_fix_explain_prints(catalog: list[Report]) -> None:
    report = next(report for report in catalog if report.model["path"] == "models/bad_regularization_loss")
    consequence = CheckResult("gradient-flow", "Gradients", Status.FAIL, "no gradient",
                              {CONSEQUENCE_OF: "regularization-losses"})
    report = dataclasses.replace(report, checks=(*[c for c in report.checks if c.id != "gradient-flow"], consequence,
                                                 CheckResult("mine", "A plugin's", Status.WARN, "hm")))
    text = Markup(HtmlReporter().render([report])).text
    assert explain(get_check("regularization-losses")) in text
    assert explain(get_check("gradient-flow")) in text and "follows from regularization-losses" in text
    assert "No explanation: this check is not installed" in text
    own = Markup(HtmlReporter(explanations={"mine": "Fix: do the thing"}).render([report])).text
    assert "Fix: do the thing" in own and explain(get_check("load")) not in own


def test_rendering_imports_no_tensorflow(catalog_file: Path) -> None:
    code = ("import sys; from pathlib import Path; from hubcheck.catalog import load_reports; "
            "from hubcheck.reporters import build_reporter; "
            f"page = build_reporter('html').render(load_reports(Path({str(catalog_file)!r}))); "
            "assert 'Fix:' in page; print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('tensorflow', 'tf_keras', 'keras', 'tensorflow_hub')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_no_models_is_still_a_page() -> None:
    page = build_reporter("html").render([])
    assert "0 models" in page and page.endswith("</html>\n")


# -- in a browser ----------------------------------------------------------------------------------


def artifacts_dir() -> Path:
    folder = Path(os.environ.get("HUBCHECK_TEST_ARTIFACTS") or REPO / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    executable = find_chromium()
    if executable is None:
        pytest.skip("no Chromium to test the HTML report in: install Debian's chromium package (bash .ci/run does, "
                    "as root) or point $HUBCHECK_CHROMIUM at a Chromium or Chrome binary")
    chromium = Browser(executable, tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield chromium
    finally:
        chromium.close()


@pytest.fixture(scope="module")
def catalog_page(catalog: list[Report], tmp_path_factory: pytest.TempPathFactory) -> Path:
    page = tmp_path_factory.mktemp("page") / "hubcheck.html"
    page.write_text(HtmlReporter().render(catalog), encoding="utf-8")
    return page


READY = "document.documentElement.dataset.ready === '1'"
VISIBLE_ROWS = "Array.from(document.querySelectorAll('#grid tbody tr')).filter(r => !r.hidden).map(r => r.dataset.name)"
VISIBLE_SECTIONS = "Array.from(document.querySelectorAll('section.model')).filter(s => !s.hidden).length"


def open_page(browser: Browser, page: Path, fragment: str = "") -> None:
    browser.open(page.as_uri() + fragment, READY)


@pytest.mark.slow
def test_the_catalog_renders_in_chromium_with_every_cell(browser: Browser, catalog_page: Path,
                                                         tmp_path: Path) -> None:
    open_page(browser, catalog_page)
    shown = browser.evaluate(
        "Array.from(document.querySelectorAll('#grid tbody tr')).map(r => [r.dataset.name, r.dataset.verdict,"
        " Array.from(r.querySelectorAll('td.cell')).map(c => [c.dataset.check, c.dataset.status,"
        " c.textContent.trim().slice(0, 1), getComputedStyle(c.firstElementChild).backgroundColor])])")
    expected = golden()
    assert [name for name, _, _ in shown] == [f"models/{name}" for name in expected]
    colours: dict[str, set[str]] = {}
    for (name, verdict, cells), document in zip(shown, expected.values()):
        assert verdict == document["status"], name
        assert [(check, status) for check, status, _, _ in cells] == [
            (check["id"], check["status"]) for check in document["checks"]], name
        for _, status, symbol, colour in cells:
            assert symbol == {"pass": "✓", "warn": "!", "skip": "–", "fail": "✗", "error": "✱"}[status]
            colours.setdefault(status, set()).add(colour)
    assert sum(len(cells) for _, _, cells in shown) == sum(len(d["checks"]) for d in expected.values())
    assert len(set.union(*colours.values())) >= len(colours) >= 4  # statuses differ in colour, not only in symbol
    assert browser.evaluate(VISIBLE_SECTIONS) == len(expected)
    assert browser.evaluate("document.getElementById('shown').textContent") == f"{len(expected)} of {len(expected)} models shown"
    assert browser.evaluate("document.querySelector('#count-fail b').textContent") == str(
        sum(d["status"] == "fail" for d in expected.values()))
    assert browser.problems() == []
    for target in (tmp_path, artifacts_dir()):
        browser.screenshot(target / "html-report.png")
    assert (tmp_path / "html-report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_filters_hide_models_in_chromium(browser: Browser, catalog_page: Path) -> None:
    expected = golden()
    failing = [f"models/{name}" for name, d in expected.items() if d["status"] == "fail"]
    open_page(browser, catalog_page)
    browser.click("#filter-verdict input[value=fail]")  # a real mouse click on the chip
    assert browser.evaluate(VISIBLE_ROWS) == failing
    assert browser.evaluate(VISIBLE_SECTIONS) == len(failing)
    assert browser.evaluate("location.hash") == "#verdict=fail"

    browser.click("#filter-verdict input[value=all]")
    browser.click("#filter-status input[value=warn]")
    warned = [f"models/{name}" for name, d in expected.items() if any(c["status"] == "warn" for c in d["checks"])]
    assert warned and browser.evaluate(VISIBLE_ROWS) == warned

    browser.click("#filter-status input[value=fail]")
    browser.evaluate("(s => { s.focus(); s.value = 'batch-size'; s.dispatchEvent(new Event('change', {bubbles: true})); })"
                     "(document.getElementById('filter-check'))")
    batch = [f"models/{name}" for name, d in expected.items()
             if any(c["id"] == "batch-size" and c["status"] == "fail" for c in d["checks"])]
    assert batch and browser.evaluate(VISIBLE_ROWS) == batch
    assert browser.evaluate("Array.from(document.querySelectorAll('#grid thead th.col')).filter(t => !t.hidden)"
                            ".map(t => t.dataset.check)") == ["batch-size"]
    findings = browser.evaluate("Array.from(document.querySelectorAll('#grid tbody tr')).filter(r => !r.hidden)"
                                ".map(r => r.querySelector('td.finding').textContent)")
    assert findings == [f"batch-size: fail (root cause)\n{check['message']}" for d in expected.values()
                        for check in d["checks"] if check["id"] == "batch-size" and check["status"] == "fail"]
    browser.screenshot(artifacts_dir() / "html-report-filtered.png")

    browser.click("#clear")
    assert len(browser.evaluate(VISIBLE_ROWS)) == len(expected) and browser.evaluate("location.hash") == ""
    browser.type_text("#filter-model", "DOC_WRONG")
    assert browser.evaluate(VISIBLE_ROWS) == [f"models/{name}" for name in expected if "doc_wrong" in name]
    assert browser.evaluate("location.hash") == "#q=DOC_WRONG"

    browser.click("#clear")
    browser.click("#grid thead th.col[data-check=logits] a")  # a column's header picks its check
    browser.wait_for("document.documentElement.dataset.filters === 'check=logits'")
    assert browser.evaluate("Array.from(document.querySelectorAll('#grid thead th.col')).filter(t => !t.hidden)"
                            ".map(t => t.dataset.check)") == ["logits"]

    open_page(browser, catalog_page, "#verdict=pass&check=logits&status=pass")  # a shared link
    browser.wait_for("document.documentElement.dataset.filters === 'verdict=pass&status=pass&check=logits'")
    passing_logits = [f"models/{name}" for name, d in expected.items() if d["status"] == "pass"
                      and any(c["id"] == "logits" and c["status"] == "pass" for c in d["checks"])]
    assert passing_logits and browser.evaluate(VISIBLE_ROWS) == passing_logits
    assert browser.problems() == []


@pytest.mark.slow
def test_hostile_strings_stay_text_in_chromium(browser: Browser, tmp_path: Path) -> None:
    page = tmp_path / "hostile.html"
    page.write_text(HtmlReporter().render([hostile_report()]), encoding="utf-8")
    open_page(browser, page)
    assert browser.evaluate("window.__pwned === undefined")
    assert browser.evaluate("document.querySelectorAll('img').length") == 0
    assert browser.evaluate("document.scripts.length") == 1
    assert browser.evaluate("Array.from(document.querySelectorAll('*')).some(e => "
                            "Array.from(e.attributes).some(a => a.name.startsWith('on')))") is False
    assert browser.evaluate("document.querySelector('section.model h2').textContent") == HOSTILE
    assert browser.evaluate("document.querySelector('#grid tbody tr').dataset.name") == HOSTILE
    cells = browser.evaluate("Array.from(document.querySelectorAll('td.cell')).map(c => c.dataset.check)")
    assert cells == ["load", "output-dtype", f"plugin-{ATTRIBUTE_PAYLOAD}"]
    browser.type_text("#filter-model", SCRIPT_PAYLOAD)  # the filter matches it as text, too
    assert browser.evaluate(VISIBLE_ROWS) == [HOSTILE]
    assert browser.problems() == []
