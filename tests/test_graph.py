"""Reading the graph without running it: unsafe ops, input range, dropout on the output."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hubcheck.options import RunOptions
from hubcheck.results import Report, Status

RUN_CHECKS_THAT_LOAD = {
    "load", "callable", "input-dtype", "input-layout", "batch-size", "output-single-tensor", "output-dtype",
    "output-shape", "output-size-constant", "output-finite", "deterministic", "batch-independence",
    "training-argument", "no-output-dropout", "variables", "trainable-variables", "regularization-losses",
    "gradient-flow", "logits", "keras-layer",
}


@pytest.fixture(scope="session")
def graph_model(model_path: Callable[[str], Path]) -> Callable[[str], Path]:
    """A graph fixture (fixtures.GRAPH_FIXTURES) by name, built on first use and cached across sessions."""
    return model_path


def _program(path: Path):
    from hubcheck.graph.program import Program, choose_meta_graph, read_saved_model

    proto = read_saved_model(path)
    return Program(choose_meta_graph(proto), path)


def _run(path: Path, *checks: str, **options: Any) -> Report:
    from hubcheck.runner import run_checks

    return run_checks(path, RunOptions(select=frozenset(checks), **options))


# -- the denylist ---------------------------------------------------------------------------------------


def test_tensorflow_scan_denylist_is_the_floor() -> None:
    from hubcheck.graph.unsafe import denylist, tensorflow_denylist

    theirs = tensorflow_denylist()
    assert {"WriteFile", "ReadFile", "PrintV2"} <= theirs
    assert theirs <= set(denylist())


@pytest.mark.parametrize(
    ("op", "family"),
    [
        ("WriteFile", "file-write"), ("ReadFile", "file-read"), ("MatchingFiles", "file-read"),
        ("SaveV2", "checkpoint"), ("RestoreV2", "checkpoint"), ("MergeV2Checkpoints", "checkpoint"),
        ("WriteScalarSummary", "summary"), ("CreateSummaryFileWriter", "summary"), ("DebugIdentityV2", "debug"),
        ("TFRecordDataset", "dataset"), ("TextLineDataset", "dataset"), ("ImmutableConst", "memory-mapped"),
        ("PrintV2", "print"), ("PyFunc", "python"), ("EagerPyFunc", "python"), ("RpcCall", "network"),
    ],
)
def test_denylist_families(op: str, family: str) -> None:
    from hubcheck.graph.unsafe import denylist

    assert denylist()[op] == family


# Ops that hubcheck/graph/oppolicy.py classifies but this TensorFlow does not register, because another
# TensorFlow version registers them (added later, or removed since): op name -> the versions that do. Nothing else
# may be unregistered, so that a misspelled name (which would never match a node) fails the test below. Empty for
# TensorFlow 2.21, the version the policy was reviewed against.
OPS_OF_OTHER_TENSORFLOW_VERSIONS: dict[str, str] = {}


def _policy_ops() -> dict[str, str]:
    """Every op name in oppolicy's families -> its family."""
    from hubcheck.graph.oppolicy import ALLOWED_FAMILIES, DENIED_FAMILIES

    return {op: entry.name for entry in (*ALLOWED_FAMILIES, *DENIED_FAMILIES) for op in entry.ops}


def test_every_op_in_the_policy_is_registered_by_this_tensorflow() -> None:
    """Op names are exact: a typo in an allowed or denied family would silently never match a node."""
    from hubcheck.graph.oppolicy import registered_ops
    from hubcheck.graph.program import op_def

    registered = registered_ops()
    policy = _policy_ops()
    misspelled = {op: family for op, family in sorted(policy.items())
                  if op not in registered and op not in OPS_OF_OTHER_TENSORFLOW_VERSIONS}
    assert not misspelled, (
        f"ops in hubcheck/graph/oppolicy.py that this TensorFlow does not register: {misspelled}; fix the name, "
        "or list it in OPS_OF_OTHER_TENSORFLOW_VERSIONS with the versions that register it"
    )
    stale = sorted(op for op in OPS_OF_OTHER_TENSORFLOW_VERSIONS if op in registered or op not in policy)
    assert not stale, f"OPS_OF_OTHER_TENSORFLOW_VERSIONS lists ops registered here or in no family: {stale}"
    # The scanner looks ops up through op_def: every denied op is one it finds, and so is TensorFlow's own list.
    from hubcheck.graph.unsafe import denylist

    unknown_to_the_scanner = sorted(op for op in denylist()
                                    if op_def(op) is None and op not in OPS_OF_OTHER_TENSORFLOW_VERSIONS)
    assert not unknown_to_the_scanner, unknown_to_the_scanner


# -- unsafe-ops on the fixtures --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "op", "family"),
    [
        ("writes_file", "WriteFile", "file-write"),
        ("reads_file", "ReadFile", "file-read"),
        ("prints_to_file", "PrintV2", "print"),
        ("checkpoint_in_call", "SaveV2", "checkpoint"),
        ("custom_op", "HubcheckCustomOp", "unknown-op"),
        ("py_function", "EagerPyFunc", "python"),
        ("summary_writer", "WriteScalarSummary", "summary"),
    ],
)
def test_unsafe_op_in_call_is_found_with_its_path(graph_model: Callable[[str], Path], name: str, op: str,
                                                  family: str) -> None:
    from hubcheck.graph.unsafe import scan_path

    scan = scan_path(graph_model(name))
    assert scan is not None and scan.unsafe
    found = [f for f in scan.findings if f.op == op]
    assert found, [f.describe() for f in scan.findings]
    assert {f.family for f in found} == {family}
    assert {f.entry for f in found} == {"call"}
    # one per traced concrete function, each named with the path from __call__
    assert {f.path[0] for f in found} == {"__call__(training=True)", "__call__(training=False)"}
    assert all(f.function in f.path[-1] for f in found)


def test_print_to_file_names_the_stream(graph_model: Callable[[str], Path]) -> None:
    from hubcheck.graph.unsafe import scan_path

    scan = scan_path(graph_model("prints_to_file"))
    assert scan is not None
    assert any("file:///tmp/hubcheck-unsafe-print.txt" in (f.detail or "") for f in scan.findings)


def test_unsafe_op_behind_a_signature_is_found_through_nested_calls(graph_model: Callable[[str], Path]) -> None:
    from hubcheck.graph.unsafe import scan_path

    scan = scan_path(graph_model("unsafe_signature"))
    assert scan is not None
    [finding] = [f for f in scan.findings if f.entry == "signature"]
    assert finding.op == "WriteFile"
    assert finding.path[0] == "signature 'serving_default'"
    assert len(finding.path) >= 3  # graph node -> signature wrapper -> the function that writes


def test_unsafe_ops_inside_cond_branches_and_loop_bodies_are_found(graph_model: Callable[[str], Path]) -> None:
    from hubcheck.graph.unsafe import scan_path

    scan = scan_path(graph_model("unsafe_in_control_flow"))
    assert scan is not None
    by_op = {f.op: f for f in scan.findings if f.entry == "call"}
    assert {"WriteFile", "PrintV2"} <= set(by_op)
    assert any("then_branch" in step for step in by_op["WriteFile"].path), by_op["WriteFile"].path
    assert any(".body" in step for step in by_op["PrintV2"].path), by_op["PrintV2"].path
    assert by_op["WriteFile"].function != by_op["WriteFile"].path[1]  # found in the branch, not in __call__


def test_the_loaders_own_variable_restore_is_not_a_finding(graph_model: Callable[[str], Path]) -> None:
    from hubcheck.graph.unsafe import scan_path

    path = graph_model("range_none")
    program = _program(path)
    library_ops = {node.op for function in program.library.values() for node in function.node_def}
    assert {"SaveV2", "RestoreV2", "MergeV2Checkpoints"} <= library_ops  # the saver functions are there
    scan = scan_path(path)
    assert scan is not None and not scan.unsafe and scan.functions_scanned > 0


def test_scanning_never_loads_the_model(graph_model: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch) -> None:
    import tensorflow as tf

    from hubcheck.graph.describe import describe_model
    from hubcheck.graph.unsafe import scan_path

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("tf.saved_model.load called")

    monkeypatch.setattr(tf.saved_model, "load", refuse)
    path = graph_model("writes_file")
    assert scan_path(path).unsafe  # type: ignore[union-attr]
    assert describe_model(path)["unsafe"]["unsafe_ops"]


# -- what hubcheck does with an unsafe model --------------------------------------------------------------


@pytest.fixture
def writing_model(graph_model: Callable[[str], Path], tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """The writes_file fixture, and the file its __call__ would write: it writes a relative name, so the test
    runs in its own empty working directory."""
    from fixtures.graph_models import WRITTEN_FILE

    monkeypatch.chdir(tmp_path)
    return graph_model("writes_file"), tmp_path / WRITTEN_FILE


def test_default_check_of_a_file_writing_model_writes_no_file(writing_model: tuple[Path, Path]) -> None:
    from hubcheck.runner import run_checks

    path, target = writing_model
    report = run_checks(path, RunOptions())
    assert not target.exists()
    unsafe = report.result("unsafe-ops")
    assert unsafe.status is Status.FAIL
    assert "WriteFile" in unsafe.message and "__call__" in unsafe.message and "--allow-unsafe-ops" in unsafe.message
    assert report.failed
    for check_id in RUN_CHECKS_THAT_LOAD:
        result = report.result(check_id)
        assert result.status is Status.SKIP, (check_id, result.message)
        assert result.details.get("blocked_by") == "unsafe-ops", (check_id, result.details)
    assert "load_seconds" not in report.model  # never loaded


def test_relative_write_target_is_not_created_in_the_working_directory(
    graph_model: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fixtures.graph_models import WRITTEN_FILE

    path = graph_model("writes_file")
    monkeypatch.chdir(tmp_path)
    import hubcheck

    report = hubcheck.check(path)
    assert report.result("unsafe-ops").status is Status.FAIL
    assert not (tmp_path / WRITTEN_FILE).exists()


def test_selecting_checks_without_unsafe_ops_still_refuses_to_load(writing_model: tuple[Path, Path]) -> None:
    path, target = writing_model
    report = _run(path, "load", "callable", "batch-size")
    assert [r.id for r in report.checks] == ["load", "callable", "batch-size"]
    assert all(r.status is Status.SKIP for r in report.checks)
    assert report.result("load").details["blocked_by"] == "unsafe-ops"
    assert not target.exists()


def test_allow_unsafe_ops_loads_and_calls_the_model(writing_model: tuple[Path, Path]) -> None:
    path, target = writing_model
    try:
        report = _run(path, "unsafe-ops", "load", "callable", "input-dtype", "input-layout", "batch-size",
                      allow_unsafe_ops=True)
        assert report.result("unsafe-ops").status is Status.FAIL
        assert "--allow-unsafe-ops was given" in report.result("unsafe-ops").message
        assert report.result("load").status is Status.PASS
        assert report.result("batch-size").status is Status.PASS
        assert target.exists()  # the override really runs the model
    finally:
        target.unlink(missing_ok=True)


def test_clean_model_passes_unsafe_ops(graph_model: Callable[[str], Path]) -> None:
    report = _run(graph_model("keras_rescaling_pm1"), "unsafe-ops")
    result = report.result("unsafe-ops")
    assert result.status is Status.PASS
    assert result.details["unsafe_ops"] == []


def test_unsafe_ops_does_not_crash_on_a_tf1_graph(graph_model: Callable[[str], Path]) -> None:
    report = _run(graph_model("tf1_signature_only"), "unsafe-ops", "input-range")
    assert report.result("unsafe-ops").status is Status.PASS
    assert report.result("input-range").status is Status.SKIP


def test_tf1_graph_write_reached_from_a_signature_fails(graph_model: Callable[[str], Path]) -> None:
    report = _run(graph_model("tf1_signature_writes"), "unsafe-ops", "load")
    result = report.result("unsafe-ops")
    assert result.status is Status.FAIL
    [finding] = result.details["unsafe_ops"]
    assert finding["op"] == "WriteFile" and finding["function"] == "<main graph>"
    assert finding["path"] == ["signature 'serving_default'"]
    assert report.result("load").details["blocked_by"] == "unsafe-ops"


def test_tf1_graph_write_that_no_entry_point_reaches_still_fails(graph_model: Callable[[str], Path]) -> None:
    """Reachability is reported, never trusted: TensorFlow may run what no call edge reaches."""
    result = _run(graph_model("tf1_dead_write"), "unsafe-ops").result("unsafe-ops")
    assert result.status is Status.FAIL
    [finding] = result.details["unsafe_ops"]
    assert finding["op"] == "WriteFile" and finding["reached"] is False and finding["entry"] == "graph"
    assert [item["op"] for item in result.details["unreachable"]] == ["WriteFile"]
    assert "no entry point reaches" in result.message


def test_unsafe_ops_scans_a_tf1_hub_module(graph_model: Callable[[str], Path]) -> None:
    report = _run(graph_model("tf1_hub_module_like"), "unsafe-ops")
    result = report.result("unsafe-ops")
    assert result.status is Status.PASS and result.details["nodes_scanned"] > 0


# -- input range ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scale", "offset", "expects"),
    [
        (1.0, 0.0, "0-1"),
        (2.0, -1.0, "0-1"),
        ([1 / 0.229, 1 / 0.224, 1 / 0.225], [-0.485 / 0.229, -0.456 / 0.224, -0.406 / 0.225], "0-1"),
        (1 / 255, 0.0, "0-255"),
        (1 / 127.5, -1.0, "0-255"),
        ([1 / 58.393, 1 / 57.12, 1 / 57.375], [-123.68 / 58.393, -116.78 / 57.12, -103.94 / 57.375], "0-255"),
        (1.0, -123.68, "0-255"),  # caffe-style mean subtraction without scaling
        (255.0, 0.0, "0-1"),  # a wrapper scaling [0, 1] up for a network trained on pixels
        (255.0, [-103.94, -116.78, -123.68], "0-1"),  # ... and subtracting a 0-255 mean (the check's own fix)
        (100.0, 0.0, "unclear"),
        (1 / 65535, 0.0, "unclear"),
        (0.0, 0.0, "unclear"),
    ],
)
def test_judge(scale: object, offset: object, expects: str) -> None:
    from hubcheck.graph.input_range import judge

    assert judge(scale, offset)[0] == expects  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "status", "scale"),
    [
        ("range_div255", "fail", 1 / 255),
        ("range_div127_minus1", "fail", 1 / 127.5),
        ("range_mul_reciprocal", "fail", 1 / 255),
        ("range_imagenet_255", "fail", 1 / 58.393),
        ("range_resize_then_div255", "fail", 1 / 255),
        ("range_variable_mean_255", "fail", 1 / 58.393),
        ("keras_rescaling_255", "fail", 1 / 255),
        ("keras_normalization_255", "fail", 1 / 58.393),
        ("range_two_x_minus_one", "pass", 2.0),
        ("range_none", "pass", 1.0),
        ("range_imagenet_01", "pass", 1 / 0.229),
        ("keras_rescaling_pm1", "pass", 2.0),
        ("range_per_image_standardization", "warn", None),
    ],
)
def test_input_range_check(graph_model: Callable[[str], Path], name: str, status: str, scale: float | None) -> None:
    report = _run(graph_model(name), "input-range")
    result = report.result("input-range")
    assert result.status.value == status, result.message
    analyses = result.details["analyses"]
    assert analyses and all(a["entry"].startswith("__call__(") for a in analyses)
    if scale is not None:
        assert np.isclose(analyses[0]["scale"][0], scale, rtol=1e-4)
    if status == "fail":
        assert "[0, 255]" in result.message and analyses[0]["steps"]
        step = next(s for s in analyses[0]["steps"] if s["folded"])
        assert step["function"] and step["node"]  # where it was found
    if status == "warn":
        assert "does not settle" in result.message


def test_input_range_never_loads(graph_model: Callable[[str], Path]) -> None:
    report = _run(graph_model("range_div255"), "input-range")
    assert "load_seconds" not in report.model


def test_input_range_reads_through_nested_keras_layer_functions(graph_model: Callable[[str], Path]) -> None:
    report = _run(graph_model("keras_rescaling_255"), "input-range")
    analysis = report.result("input-range").details["analyses"][0]
    functions = {step["function"] for step in analysis["steps"]}
    assert any("rescaling" in function for function in functions)
    assert analysis["stop"]["op"] == "Conv2D"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["keras_mobilenet_v3", "keras_efficientnet"])
def test_input_range_of_keras_applications_with_builtin_preprocessing(graph_model: Callable[[str], Path],
                                                                      name: str) -> None:
    report = _run(graph_model(name), "unsafe-ops", "input-range")
    assert report.result("unsafe-ops").status is Status.PASS
    result = report.result("input-range")
    assert result.status is Status.FAIL, result.message
    assert result.details["analyses"][0]["maps_0_255_to"]


def test_traces_read_from_the_proto_match_the_loaded_model(graph_model: Callable[[str], Path]) -> None:
    """The traces hubcheck decodes from the object graph are the concrete functions TensorFlow loads."""
    from hubcheck.tfimport import tensorflow

    path = graph_model("keras_rescaling_pm1")
    program = _program(path)
    call = tensorflow().saved_model.load(str(path)).__call__
    spec = call.function_spec.fullargspec
    names = [name for name in spec.args if name != "self"] + list(spec.kwonlyargs or [])
    loaded = []
    for function in call.concrete_functions:
        args, kwargs = function.structured_input_signature
        named = {**dict(zip(names[1:], args[1:])), **kwargs}
        loaded.append((named.get("training"), {"dtype": args[0].dtype.name, "shape": args[0].shape.as_list()}))
    read = [(t.training, t.image.to_json() if t.image is not None else None) for t in program.traces]
    assert read == loaded  # in the object graph's order, so that each training value stays with its function
    assert sorted(t.training for t in program.traces) == [False, True]
    assert program.call_argument_names == names == ["inputs", "training", "mask"]


# -- dropout on the output --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "found"),
    [("module_output_dropout", True), ("keras_output_dropout", True), ("keras_inner_dropout", False),
     ("range_none", False)],
)
def test_output_dropout_from_the_graph(graph_model: Callable[[str], Path], name: str, found: bool) -> None:
    from hubcheck.graph.dropout import output_dropout

    evidence, traces = output_dropout(_program(graph_model(name)))
    assert traces == 1
    assert bool(evidence) is found
    if found:
        assert evidence[0].op in ("SelectV2", "Mul") and "Random" in evidence[0].random_op


@pytest.mark.parametrize(("name", "status"), [("keras_output_dropout", "fail"), ("keras_inner_dropout", "pass")])
def test_no_output_dropout_reports_graph_and_run_evidence(graph_model: Callable[[str], Path], name: str,
                                                          status: str) -> None:
    report = _run(graph_model(name), "no-output-dropout")
    result = report.result("no-output-dropout")
    assert result.status.value == status, result.message
    assert "run_evidence" in result.details and "graph_evidence" in result.details
    assert bool(result.details["graph_evidence"]) is (status == "fail")
    assert result.details["graph_training_traces_read"] == 1
