"""The second red-team round (fixtures/hostile_round2.py), as tests of the gate.

Every route that writes or reads (:data:`fixtures.hostile_round2.ROUND2`) gets two tests, as in
tests/test_security_gate.py:

* **refused under default options**: ``hubcheck.check(path)`` (in-process) fails ``unsafe-ops``, does not
  load the model (``load`` is skipped, blocked by ``unsafe-ops``, and no load time is recorded), nothing is
  written into the model's drop directory (which is also the working directory during the check, so that a
  relative path lands there too), and the secret line appears nowhere in the JSON report;
* **the payload really fires when allowed**: ``hubcheck.check(path, allow_unsafe_ops=True, select=...)``
  writes into the drop directory or puts the secret line into the report. The three TF1-loader routes fire in
  hubcheck's ``load`` check (tf.saved_model.load takes its TF1 loader for a model with two MetaGraphs);
  :func:`test_tf1_routes_fire_in_plain_tensorflow` shows that plain TensorFlow runs them too.

The memory route (a BoundedTensorSpec that expands on decoding) is refused with the ``expanding-constant``
family, ``hubcheck inspect`` of it stays bounded (a child process under an address-space cap measures its
peak RSS), and that the proto really declares the expansion is read from the proto, never decoded at full
size. The malformed protos (negative object-graph ids, unparsable input indices...) must give a report and a
clean ``hubcheck inspect`` exit (0 or 1, no traceback).

The payloads only write under this module's temporary directory (a few MiB at most) and only read the secret
file it creates (``HUBCHECK-SECRET-<random>``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from red_team import (
    Built,
    Secret,
    assert_payload_fired,
    document,
    emptied,
    make_secret,
    model_builder,
    refusal_problems,
)
from click.testing import CliRunner

import hubcheck
from fixtures.graph_models import export_plain
from fixtures.hostile import Proof
from fixtures.hostile_round2 import (
    DISK_FILL_MIB,
    DISK_FILL_NAMES,
    DISK_FILL_PREFIX,
    MALFORMED,
    ROUND2,
    SPEC_EXPAND_ELEMENTS,
    build_bounded_spec_expand,
    build_malformed,
)
from hubcheck.cli import main
from hubcheck.results import Report, Status

REPO = Path(__file__).resolve().parent.parent
TF1_ROUTES = sorted(name for name, route in ROUND2.items() if route.tf1_tags)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("red-team-2")


@pytest.fixture(scope="module")
def secret(workspace: Path) -> Secret:
    """A file outside every model (alone in its directory: assets_dir_symlink links assets/ there), whose only
    line no report may ever show."""
    return make_secret(workspace)


@pytest.fixture(scope="module")
def hostile(workspace: Path, secret: Secret) -> Callable[[str], Built]:
    """A round-2 model by name, built on first use (once per module), with an empty drop directory."""
    return model_builder(workspace, secret, ROUND2)


# -- two assertions per route ------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ROUND2))
def test_refused_under_default_options(hostile: Callable[[str], Built], secret: Secret, name: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Default options: unsafe-ops fails, the model is not loaded, nothing is written, no secret is shown."""
    with emptied(hostile(name)) as built:
        monkeypatch.chdir(built.drop)  # disk_fill's relative prefix would land here
        problems = refusal_problems(hubcheck.check(built.path), built, secret)
        assert not problems, f"{name} ({ROUND2[name].route}): " + "; ".join(problems)


@pytest.mark.parametrize("name", sorted(ROUND2))
def test_payload_fires_when_allowed(hostile: Callable[[str], Built], secret: Secret, name: str,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """With allow_unsafe_ops=True hubcheck loads (and, for the TF2 routes, calls) the model in-process and the
    payload fires: the marker routes write into their drop directory (saver_const_select and disk_fill on a
    call, tf1_saver_filename_default at load under the TF1 loader); the secret routes put the secret line into
    an error message the report carries (the two TF1 routes at load, assets_dir_symlink on a call). disk_fill
    writes ``names x MiB`` (a few MiB) into the working directory, here the drop directory."""
    route = ROUND2[name]
    with emptied(hostile(name)) as built:
        monkeypatch.chdir(built.drop)
        report = hubcheck.check(built.path, allow_unsafe_ops=True, select=route.fires_in)
        assert_payload_fired(report, built, secret, by_marker=route.proof is Proof.MARKER, name=name)
        if name == "disk_fill":
            data = sum(item.stat().st_size for item in built.drop.glob(f"{DISK_FILL_PREFIX}.data-*"))
            assert data >= DISK_FILL_NAMES * DISK_FILL_MIB << 20, (built.fired(), data)


@pytest.mark.parametrize("name", TF1_ROUTES)
def test_tf1_routes_fire_in_plain_tensorflow(hostile: Callable[[str], Built], secret: Secret, name: str) -> None:
    """The TF1-loader routes need no hubcheck at all: plain ``tf.saved_model.load(path, tags=["serve"])``
    (two MetaGraphs: the TF1 loader) runs the init or restore op, which writes the marker or fails with the
    secret line in its message."""
    from fixtures.graph_models import _tf

    tf = _tf()
    route = ROUND2[name]
    with emptied(hostile(name)) as built:
        if route.proof is Proof.MARKER:
            tf.saved_model.load(str(built.path), tags=list(route.tf1_tags))
            assert built.fired(), f"{name}: plain TensorFlow wrote nothing into {built.drop}"
        else:
            with pytest.raises(Exception) as error:
                tf.saved_model.load(str(built.path), tags=list(route.tf1_tags))
            assert secret.text in str(error.value), f"{name}: {str(error.value)[:500]}"


@pytest.mark.slow  # runs a child process
def test_disk_fill_refused_in_an_isolated_run_too(hostile: Callable[[str], Built], secret: Secret) -> None:
    """The red team filled the disk from the sandboxed child (``isolate=True``, as the CLI runs by default):
    it refuses the same way there."""
    built = hostile("disk_fill")
    report = hubcheck.check(built.path, isolate=True, timeout_s=300)
    unsafe, load = report.result("unsafe-ops"), report.result("load")
    assert unsafe.status is Status.FAIL, unsafe.message
    assert load.status is Status.SKIP and load.details.get("blocked_by") == "unsafe-ops", load.message
    assert secret.text not in document(report)


def test_the_secret_stays_outside_the_models(hostile: Callable[[str], Built], secret: Secret) -> None:
    """The secret routes read it from outside the model: no model carries a copy of the secret line
    (assets_dir_symlink's assets/ is a link to the secret's directory, not a copy)."""
    for name in ("tf1_asset_tensor_unfed", "tf1_shared_name_alias", "assets_dir_symlink"):
        built = hostile(name)
        for folder, dirs, files in os.walk(built.path):  # does not follow assets/ when it is a symlink
            for entry in dirs + files:
                item = Path(folder, entry)
                if item.is_symlink():
                    assert item.resolve() == secret.file.parent.resolve(), item
                elif item.is_file():
                    assert secret.text.encode() not in item.read_bytes(), item


# -- the memory route: a BoundedTensorSpec that expands when decoded --------------------------------------

GATE_EXPANSION_LIMIT = 64 << 20
MAX_RSS_GROWTH = 1 << 30
ADDRESS_SPACE_HEADROOM = 3 << 30  # a safety net: a regression fails the child instead of eating the machine
INSPECT_WITHIN_S = 300.0  # importing TensorFlow in the child, then the inspect itself (seconds)

_INSPECT_CHILD = textwrap.dedent(
    """
    import json, resource, sys

    from hubcheck.tfimport import tensorflow

    tensorflow()
    from click.testing import CliRunner

    from hubcheck.cli import main

    path, headroom = sys.argv[1], int(sys.argv[2])
    with open("/proc/self/status") as status:
        vm_kib = next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = vm_kib * 1024 + headroom
    if hard == resource.RLIM_INFINITY or cap < hard:
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result = CliRunner().invoke(main, ["inspect", path])
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    exception = None if result.exception is None or isinstance(result.exception, SystemExit) else repr(result.exception)
    print(json.dumps({"exit_code": result.exit_code, "exception": exception, "output": result.output[-3000:],
                      "rss_growth": after - before}))
    """
)


@pytest.fixture(scope="module")
def spec_expand(workspace: Path) -> Path:
    path = workspace / "bounded" / "bounded_spec_expand"
    path.mkdir(parents=True)
    build_bounded_spec_expand(path, workspace / "bounded" / "unused-drop", workspace / "bounded" / "unused-secret")
    return path


def _bounds(path: Path) -> list[Any]:
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((path / "saved_model.pb").read_bytes())
    found: list[Any] = []

    def walk(value: Any) -> None:
        if value.HasField("bounded_tensor_spec_value"):
            found.append(value.bounded_tensor_spec_value)
        for field in ("list_value", "tuple_value"):
            if value.HasField(field):
                for item in getattr(value, field).values:
                    walk(item)
        if value.HasField("dict_value"):
            for item in value.dict_value.fields.values():
                walk(item)

    for function in proto.meta_graphs[0].object_graph_def.concrete_functions.values():
        walk(function.canonicalized_input_signature)
    return found


def test_bounded_spec_expand_refused_under_default_options(spec_expand: Path) -> None:
    """Default options: unsafe-ops fails with the ``expanding-constant`` family, and the model is not loaded."""
    report = hubcheck.check(spec_expand)
    unsafe, load = report.result("unsafe-ops"), report.result("load")
    assert unsafe.status is Status.FAIL, f"unsafe-ops is {unsafe.status}: {unsafe.message}"
    assert "expanding-constant" in (unsafe.details.get("families") or []), unsafe.details.get("families")
    assert load.status is Status.SKIP and load.details.get("blocked_by") == "unsafe-ops", load.message
    assert "load_seconds" not in report.model


@pytest.mark.slow  # runs a child process
def test_bounded_spec_expand_inspect_stays_bounded(spec_expand: Path) -> None:
    """``hubcheck inspect`` (in a child under an address-space cap) finishes with exit 0 or 1, no traceback,
    and a peak RSS growth under 1 GiB (decoding the bounds would take 2 x 1 GiB per trace)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    try:
        child = subprocess.run([sys.executable, "-c", _INSPECT_CHILD, str(spec_expand), str(ADDRESS_SPACE_HEADROOM)],
                               cwd=REPO, env=env, capture_output=True, text=True, timeout=INSPECT_WITHIN_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"hubcheck inspect did not finish within {INSPECT_WITHIN_S:.0f} s")
    assert child.returncode == 0, f"the child died (exit {child.returncode}):\n{child.stderr[-3000:]}"
    answer = json.loads(child.stdout.strip().splitlines()[-1])
    assert answer["exception"] is None, answer
    assert answer["exit_code"] in (0, 1), answer
    assert "Traceback" not in answer["output"], answer["output"]
    assert answer["rss_growth"] < MAX_RSS_GROWTH, f"peak RSS grew by {answer['rss_growth'] / 2**20:.0f} MiB"


def test_bounded_spec_expand_really_declares_the_expansion(spec_expand: Path) -> None:
    """The proto declares float32[2**28] bounds (over the gate's 64 MiB of expansion) in a saved_model.pb of a
    few KB; decoding (``tensor_util.MakeNdarray``, as nested_structure_coder does) really expands the declared
    shape, shown on a bound scaled down to 1024 elements (never decoded at full size)."""
    from tensorflow.python.framework import tensor_util

    assert (spec_expand / "saved_model.pb").stat().st_size < 64 << 10
    bounds = _bounds(spec_expand)
    assert len(bounds) >= 2, "one BoundedTensorSpec per traced __call__"
    for bounded in bounds:
        for bound in (bounded.minimum, bounded.maximum):
            assert [dim.size for dim in bound.tensor_shape.dim] == [SPEC_EXPAND_ELEMENTS]
            assert list(bound.float_val) == [0.0] and not bound.tensor_content
            assert 4 * SPEC_EXPAND_ELEMENTS - bound.ByteSize() > GATE_EXPANSION_LIMIT
    small = type(bounds[0].minimum)()
    small.CopyFrom(bounds[0].minimum)
    small.tensor_shape.dim[0].size = 1024
    expanded = tensor_util.MakeNdarray(small)  # what nested_structure_coder does with each bound
    assert expanded.shape == (1024,) and expanded.nbytes == 4096 > small.ByteSize()


# -- robustness: protos hostile to the scan itself ------------------------------------------------------


@pytest.fixture(scope="module")
def malformed(workspace: Path) -> dict[str, Path]:
    root = workspace / "malformed"
    base = root / "base"
    base.mkdir(parents=True)
    export_plain(base)
    models: dict[str, Path] = {}
    for case in MALFORMED:
        models[case] = root / case
        build_malformed(models[case], case, base)
    return models


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_proto_gets_a_report_and_a_clean_inspect(malformed: dict[str, Path], case: str) -> None:
    """``hubcheck.check`` returns a report (no exception) and ``hubcheck inspect`` exits 0 or 1 without a
    traceback (not 3, an internal error)."""
    report = hubcheck.check(malformed[case])
    assert isinstance(report, Report)
    result = CliRunner().invoke(main, ["inspect", str(malformed[case])])
    crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
    assert not crashed, f"{case}: inspect raised {result.exception!r}"
    assert result.exit_code in (0, 1), f"{case}: inspect exited {result.exit_code}: {result.output[-1000:]}"
    assert "Traceback" not in result.output, result.output[-3000:]
