"""hubcheck.documentation and ``hubcheck doc``: reading both doc formats, linting, writing drafts."""

from __future__ import annotations

import json
import keyword
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from hubcheck.cli import main
from hubcheck.documentation import (
    FACT_KEYS,
    IMAGE_TASKS,
    DocFacts,
    DocInputSize,
    DocumentationError,
    MeasuredModel,
    lint_documentation,
    read_documentation,
    write_documentation,
)

DOCS = Path(__file__).parent / "docs_fixtures"
SCHEMA = json.loads((Path(__file__).parents[1] / "docs" / "report.schema.json").read_text())


def _definition(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({"$ref": f"#/$defs/{name}", "$defs": SCHEMA["$defs"]})


def fixed(h: int, w: int) -> DocInputSize:
    return DocInputSize(h, w, True)


def default(h: int, w: int) -> DocInputSize:
    return DocInputSize(h, w, False)


# name: (task, fine_tunable, format, input_size, num_outputs, value_range, arguments)
EXPECTED: dict[str, tuple[Any, ...]] = {
    # the standard tfhub.dev sentences
    "tfhub_feature_vector.md": ("image-feature-vector", True, "saved_model_2", fixed(224, 224), 1280, (0.0, 1.0),
                                {"batch_norm_momentum": 0.997}),
    "tfhub_classification_default_size.md": ("image-classification", False, "saved_model_2", default(299, 299), 1001,
                                             (0.0, 1.0), {}),
    "tfhub_resized.md": ("image-feature-vector", True, "saved_model_2", fixed(224, 224), 2048, (0.0, 1.0), {}),
    # community phrasings
    "community_code_only.md": ("image-feature-vector", True, None, default(384, 384), 1280, (0.0, 1.0), {}),
    "community_output_range.md": ("image-classification", False, "saved_model_2", fixed(256, 256), 10, (0.0, 1.0), {}),
    "community_only_output_range.md": ("image-feature-vector", False, "saved_model_2", None, 512, None, {}),
    "community_resizes_inside.md": ("image-feature-vector", True, "saved_model_2", None, 1024, None, {}),
    "contradictions.md": ("image-classification", True, "saved_model_2", fixed(224, 224), 1001, None, {}),
    "channels_first.md": ("image-classification", False, "saved_model_2", default(224, 224), 1000, (-1.0, 1.0), {}),
    "out_of_scope_tf1.md": ("image-object-detection", None, "hub", None, None, None, {}),
    # Kaggle model-instance-metadata.json
    "kaggle_feature_vector.json": ("image-feature-vector", True, "saved_model_2", fixed(224, 224), 1280, (0.0, 1.0),
                                   {"dropout_rate": 0.2}),
    "kaggle_bad.json": ("image-classification", None, "tfLite", None, 10, (-1.0, 1.0), {}),
    "kaggle_handle_only.json": ("image-classification", False, "saved_model_2", default(224, 224), 1000, None, {}),
}

LINT: dict[str, list[str]] = {
    "tfhub_feature_vector.md": [],
    "tfhub_classification_default_size.md": [],
    "tfhub_resized.md": [],
    "community_code_only.md": ["format-missing"],
    "community_output_range.md": [],
    "community_only_output_range.md": [],
    "community_resizes_inside.md": [],
    "contradictions.md": ["contradiction", "contradiction"],
    "channels_first.md": ["value-range", "channels-first"],
    "out_of_scope_tf1.md": ["format-invalid", "task-out-of-scope", "fine-tunable-invalid"],
    "kaggle_feature_vector.json": [],
    "kaggle_bad.json": ["framework-invalid", "fine-tunable-missing", "value-range"],
    "kaggle_handle_only.json": [],
}

UNREADABLE = ["broken.json", "not_kaggle.json", "not_utf8.md", "notes.txt", "missing.md"]


def _facts_tuple(facts: DocFacts) -> tuple[Any, ...]:
    return (facts.task, facts.fine_tunable, facts.format, facts.input_size, facts.num_outputs, facts.value_range,
            facts.arguments)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_reads_the_facts_of_each_fixture(name: str) -> None:
    facts = read_documentation(DOCS / name)
    assert _facts_tuple(facts) == EXPECTED[name]
    assert facts.kind == ("kaggle-metadata" if name.endswith(".json") else "tfhub-markdown")
    for fact in ("task", "fine_tunable", "input_size", "num_outputs", "value_range", "arguments"):
        if getattr(facts, fact) not in (None, {}):
            assert fact in facts.evidence, f"{fact} has no evidence"


@pytest.mark.parametrize("name", sorted(LINT))
def test_lint_findings_of_each_fixture(name: str) -> None:
    assert [f.code for f in lint_documentation(read_documentation(DOCS / name))] == LINT[name]


def test_evidence_is_the_sentence_the_fact_came_from() -> None:
    facts = read_documentation(DOCS / "tfhub_feature_vector.md")
    assert facts.evidence["input_size"].startswith("For this model, the size of the input images is fixed")
    assert facts.evidence["num_outputs"].endswith("`num_features` = 1280.")
    assert facts.evidence["task"] == "<!-- task: image-feature-vector -->"
    assert facts.evidence["arguments"] == "arguments=dict(batch_norm_momentum=0.997)"


def test_a_prose_sentence_beats_a_size_in_a_snippet(tmp_path: Path) -> None:
    doc = tmp_path / "m.md"
    doc.write_text("<!-- task: image-feature-vector -->\n\n```python\nx = tf.image.resize(x, (160, 160))\n```\n\n"
                   "The input images are resized to 192 x 192 pixels.\n")
    facts = read_documentation(doc)
    assert facts.input_size == fixed(192, 192)
    assert "input_size_conflict" not in facts.evidence


def test_a_patch_size_and_a_feature_map_are_not_the_input_size(tmp_path: Path) -> None:
    doc = tmp_path / "vit.md"
    doc.write_text("A ViT with image patches of 16x16 pixels and a 14 x 14 grid of tokens per image.\n")
    assert read_documentation(doc).input_size is None


def test_the_channels_first_rewrite_sentence_of_the_spec_is_not_channels_first_input() -> None:
    assert "channels_first" not in read_documentation(DOCS / "tfhub_feature_vector.md").evidence


def test_placeholder_arguments_are_not_documented_values() -> None:
    # the fixture also says arguments=dict(some_hparam=some_value, ...)
    assert "some_hparam" not in read_documentation(DOCS / "tfhub_feature_vector.md").arguments


@pytest.mark.parametrize("name", UNREADABLE)
def test_unreadable_files_are_documentation_errors(name: str) -> None:
    with pytest.raises(DocumentationError):
        read_documentation(DOCS / name)


def test_a_directory_is_not_a_doc(tmp_path: Path) -> None:
    folder = tmp_path / "doc.md"
    folder.mkdir()
    with pytest.raises(DocumentationError, match="not a file"):
        read_documentation(folder)


# -- lint on facts built by hand -----------------------------------------------------------------------------


def _clean(**changes: Any) -> DocFacts:
    base: dict[str, Any] = dict(path="m.md", kind="tfhub-markdown", task="image-classification", fine_tunable=True,
                                format="saved_model_2", value_range=(0.0, 1.0))
    return DocFacts(**{**base, **changes})


def test_lint_clean_facts_have_no_findings() -> None:
    assert lint_documentation(_clean()) == []
    assert lint_documentation(_clean(kind="kaggle-metadata")) == []


@pytest.mark.parametrize(("changes", "code"), [
    ({"format": None}, "format-missing"),
    ({"format": "hub"}, "format-invalid"),
    ({"kind": "kaggle-metadata", "format": None}, "framework-invalid"),
    ({"kind": "kaggle-metadata", "format": "keras"}, "framework-invalid"),
    ({"task": None}, "task-missing"),
    ({"task": "image-segmentation"}, "task-out-of-scope"),
    ({"fine_tunable": None}, "fine-tunable-missing"),
    ({"fine_tunable": None, "evidence": {"fine_tunable": "<!-- fine-tunable: yes -->"}}, "fine-tunable-invalid"),
    ({"value_range": (0.0, 255.0)}, "value-range"),
    ({"evidence": {"channels_first": "NCHW input"}}, "channels-first"),
    ({"evidence": {"num_outputs": "a", "num_outputs_conflict": "b"}}, "contradiction"),
])
def test_lint_rules(changes: dict[str, Any], code: str) -> None:
    assert [f.code for f in lint_documentation(_clean(**changes))] == [code]


def test_no_documented_range_is_not_a_finding() -> None:
    assert lint_documentation(_clean(value_range=None)) == []


# -- JSON and the schema -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_facts_to_json_has_exactly_the_keys_and_round_trips(name: str) -> None:
    facts = read_documentation(DOCS / name)
    data = facts.to_json()
    assert tuple(data) == FACT_KEYS
    _definition("documentation").validate(data)
    assert DocFacts.from_json(json.loads(json.dumps(data))) == facts


def test_a_report_with_documentation_validates_against_the_report_schema() -> None:
    from hubcheck.reporters.json import JsonReporter
    from hubcheck.results import Report

    facts = read_documentation(DOCS / "tfhub_feature_vector.md")
    report = Report(hubcheck_version="0", environment={"python": "3", "tensorflow": None, "tensorflow-hub": None},
                    model={"path": "m", "format": "tf2-saved-model", "documentation": facts.to_json()}, checks=[])
    jsonschema.Draft202012Validator(SCHEMA).validate(json.loads(JsonReporter().render([report])))


# -- hubcheck doc --------------------------------------------------------------------------------------------


def _doc(*args: str) -> Any:
    return CliRunner().invoke(main, ["doc", *args])


@pytest.mark.parametrize("name", sorted(LINT))
def test_cli_exit_code_and_json(name: str) -> None:
    result = _doc("--format", "json", str(DOCS / name))
    assert result.exit_code == (1 if LINT[name] else 0), result.output
    data = json.loads(result.output)
    _definition("doc_output").validate(data)
    assert [f["code"] for f in data["findings"]] == LINT[name]
    assert DocFacts.from_json(data["documentation"]) == read_documentation(DOCS / name)


def test_cli_table_shows_each_fact_with_its_sentence() -> None:
    result = _doc(str(DOCS / "tfhub_feature_vector.md"))
    assert result.exit_code == 0
    assert "input size    224x224 (fixed)" in result.output
    assert "from: <!-- task: image-feature-vector -->" in result.output
    assert "OK: " in result.output


def test_cli_table_shows_findings() -> None:
    result = _doc(str(DOCS / "channels_first.md"))
    assert result.exit_code == 1
    assert "lint  channels-first:" in result.output and "FAIL: " in result.output


@pytest.mark.parametrize("name", UNREADABLE)
def test_cli_unreadable_is_a_usage_error(name: str) -> None:
    result = _doc(str(DOCS / name))
    assert result.exit_code == 2
    assert "Error:" in result.output


def test_cli_without_path_is_a_usage_error() -> None:
    assert _doc().exit_code == 2


# -- writing drafts and reading them back --------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".md", ".json"])
def test_write_then_read_gives_the_measured_facts(tmp_path: Path, suffix: str) -> None:
    measured = MeasuredModel(task="image-classification", fine_tunable=True, num_outputs=1001,
                             input_size=fixed(224, 224), arguments={"batch_norm_momentum": 0.997},
                             handle="examples/mobilenet/1")
    path = tmp_path / f"doc{suffix}"
    write_documentation(path, measured)
    facts = read_documentation(path)
    assert _facts_tuple(facts) == ("image-classification", True, "saved_model_2", fixed(224, 224), 1001, (0.0, 1.0),
                                   {"batch_norm_momentum": 0.997})
    assert lint_documentation(facts) == []
    assert _doc(str(path)).exit_code == 0


def test_write_refuses_other_suffixes(tmp_path: Path) -> None:
    measured = MeasuredModel(task="image-feature-vector", fine_tunable=False, num_outputs=None, input_size=None,
                             arguments={})
    with pytest.raises(DocumentationError):
        write_documentation(tmp_path / "doc.txt", measured)


_names = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True).filter(lambda n: not keyword.iskeyword(n))
_values = st.one_of(
    st.booleans(),
    st.integers(min_value=-10**6, max_value=10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789 _-", max_size=12),
)
_sizes = st.one_of(st.none(), st.builds(DocInputSize, st.integers(16, 4096), st.integers(16, 4096), st.booleans()))
_measured = st.builds(
    MeasuredModel,
    task=st.sampled_from(IMAGE_TASKS),
    fine_tunable=st.booleans(),
    num_outputs=st.one_of(st.none(), st.integers(2, 100_000)),
    input_size=_sizes,
    arguments=st.dictionaries(_names, _values, max_size=4),
    handle=st.from_regex(r"[a-z][a-z0-9-]{0,10}/[a-z][a-z0-9-]{0,10}/[1-9]", fullmatch=True),
)


@settings(max_examples=150, deadline=None)
@given(measured=_measured, suffix=st.sampled_from([".md", ".json"]))
def test_any_written_draft_reads_back_to_the_same_facts(tmp_path_factory: pytest.TempPathFactory,
                                                       measured: MeasuredModel, suffix: str) -> None:
    path = tmp_path_factory.mktemp("draft") / f"doc{suffix}"
    write_documentation(path, measured)
    facts = read_documentation(path)
    assert facts.task == measured.task
    assert facts.fine_tunable == measured.fine_tunable
    assert facts.format == "saved_model_2"
    assert facts.input_size == measured.input_size
    assert facts.num_outputs == measured.num_outputs
    assert facts.value_range == (0.0, 1.0)
    assert facts.arguments == measured.arguments
    assert all(type(facts.arguments[k]) is type(v) for k, v in measured.arguments.items())
    assert lint_documentation(facts) == []


@pytest.mark.parametrize("suffix", [".md", ".json"])
def test_string_arguments_keep_their_spaces(tmp_path: Path, suffix: str) -> None:
    """Hypothesis found it: a documented default of two spaces read back as one (whitespace collapsed)."""
    measured = MeasuredModel(task="image-feature-vector", fine_tunable=True, num_outputs=None, input_size=None,
                             arguments={"a": "  ", "b": "x  y", "c": "\tz"}, handle="a/b/1")
    path = tmp_path / f"doc{suffix}"
    write_documentation(path, measured)
    assert read_documentation(path).arguments == {"a": "  ", "b": "x  y", "c": "\tz"}


def test_odd_literals_and_huge_numbers_are_not_facts(tmp_path: Path) -> None:
    """A tuple-keyed dict, an infinite float or a 5000-digit number never reach the facts (or crash JSON)."""
    import json

    from hubcheck.documentation import read_documentation

    doc = tmp_path / "odd.md"
    doc.write_text("# Module a/b/1\n<!-- task: image-feature-vector -->\n\n`num_features` = " + "9" * 5000
                   + ".\n\n```python\nhub.KerasLayer('x', arguments=dict(m={(1, 2): 3}, scale=1e999, ok=0.5))\n```\n")
    facts = read_documentation(doc)
    assert facts.arguments == {"ok": 0.5} and facts.num_outputs is None
    json.dumps(facts.to_json(), allow_nan=False)
