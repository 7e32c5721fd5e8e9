"""The red-team fixture set of security issue #16 (fixtures/hostile.py), as tests of the gate.

Every hostile model gets two tests:

* **refused under default options**: ``hubcheck.check(path)`` fails ``unsafe-ops``, does not load the
  model (``load`` is skipped, blocked by ``unsafe-ops``, and no load time is recorded), the payload's
  drop directory stays empty, and the secret line appears nowhere in the JSON report;
* **the payload really fires when allowed**: ``hubcheck.check(path, allow_unsafe_ops=True,
  select=<the checks that trigger it>)`` writes into the drop directory (``Proof.MARKER``) or puts the
  secret line into the report (``Proof.SECRET``), so that the refusal is known to refuse something real.

The payloads only write under this module's temporary directory and only read the secret file it
creates (``HUBCHECK-SECRET-<random>``). Route 7 (bounded work) runs ``hubcheck.check`` in a child
process with a deadline and an address-space cap, so that a regression fails the test instead of
hanging the suite or eating the machine.
"""

from __future__ import annotations

import json
import os
import queue
import stat
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from dataclasses import dataclass
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

import hubcheck
from fixtures.hostile import (
    HOSTILE,
    Proof,
    build_deep_chain,
    build_lying_const,
    build_pb_dev_zero,
    build_pb_fifo,
)
from hubcheck.results import Status

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("red-team")


@pytest.fixture(scope="module")
def secret(workspace: Path) -> Secret:
    """A file outside every model, whose only line no report may ever show."""
    return make_secret(workspace)


@pytest.fixture(scope="module")
def hostile(workspace: Path, secret: Secret) -> Callable[[str], Built]:
    """A hostile model by name, built on first use (once per module), with an empty drop directory."""
    return model_builder(workspace, secret, HOSTILE)


# -- two assertions per hostile model -------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_refused_under_default_options(hostile: Callable[[str], Built], secret: Secret, name: str) -> None:
    """Default options: unsafe-ops fails, the model is not loaded, nothing is written, no secret is shown."""
    with emptied(hostile(name)) as built:
        problems = refusal_problems(hubcheck.check(built.path), built, secret)
        assert not problems, f"{name} ({HOSTILE[name].route}): " + "; ".join(problems)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_payload_fires_when_allowed(hostile: Callable[[str], Built], secret: Secret, name: str) -> None:
    """With allow_unsafe_ops=True hubcheck loads and calls the model (in-process), and the payload fires:
    ``Proof.MARKER`` models write into their drop directory (at load, on a call, in a training call, in a
    gradient or in a regularization loss, as ``fires_in`` selects); ``Proof.SECRET`` models put the secret
    file's line into an error message that the report carries."""
    model = HOSTILE[name]
    with emptied(hostile(name)) as built:
        report = hubcheck.check(built.path, allow_unsafe_ops=True, select=model.fires_in)
        assert_payload_fired(report, built, secret, by_marker=model.proof is Proof.MARKER, name=name)


@pytest.mark.slow  # a child process
@pytest.mark.parametrize("name", ["family_file_write", "api_implements_swap"])
def test_refused_in_an_isolated_run_too(hostile: Callable[[str], Built], secret: Secret, name: str) -> None:
    """``isolate=True`` (a child process, as the CLI runs by default) refuses the same way."""
    with emptied(hostile(name)) as built:
        report = hubcheck.check(built.path, isolate=True, timeout_s=300)
        unsafe, load = report.result("unsafe-ops"), report.result("load")
        assert unsafe.status is Status.FAIL, unsafe.message
        assert load.status is Status.SKIP and load.details.get("blocked_by") == "unsafe-ops", load.message
        assert not built.fired()
        assert secret.text not in document(report)


def test_the_secret_stays_outside_the_models(hostile: Callable[[str], Built], secret: Secret) -> None:
    """The file routes read from outside the model: no model carries a copy of the secret."""
    for name in ("vocab_constant_path", "vocab_asset_symlink", "vocab_asset_absolute", "dataset_graph_constant",
                 "unigram_sampler_vocab", "family_file_read"):
        built = hostile(name)
        for file in built.path.rglob("*"):
            if file.is_symlink():
                assert file.resolve() == secret.file.resolve(), file  # route 1b: the link points out
            elif file.is_file():
                assert secret.text.encode() not in file.read_bytes(), file


# -- route 7: bounded work ---------------------------------------------------------------------------

ANSWER_WITHIN_S = 15.0
""""Within a few seconds", with room for a loaded 2-core runner."""

STARTUP_WITHIN_S = 180.0  # importing TensorFlow in the child
MAX_RSS_GROWTH = 1 << 30
ADDRESS_SPACE_HEADROOM = 3 << 30  # a safety net only: growth past MAX_RSS_GROWTH already fails the test

_CHILD = textwrap.dedent(
    """
    import faulthandler, json, resource, sys, time

    import hubcheck
    from hubcheck.tfimport import tensorflow

    tensorflow()
    path, kwargs, headroom, deadline = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    with open("/proc/self/status") as status:
        vm_kib = next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = vm_kib * 1024 + headroom
    if hard == resource.RLIM_INFINITY or cap < hard:
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print("ready", flush=True)
    faulthandler.dump_traceback_later(deadline, exit=False)  # where it is when the parent gives up
    started = time.perf_counter()
    report = hubcheck.check(path, **kwargs)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    results = {r.id: [r.status.value, r.message[:300]] for r in report.checks}
    print(json.dumps({"elapsed": elapsed, "rss_growth": after - before, "results": results}), flush=True)
    """
)


@dataclass(frozen=True)
class Bounded:
    elapsed: float
    rss_growth: int
    results: dict[str, list[str]]

    def status(self, check_id: str) -> str | None:
        return self.results[check_id][0] if check_id in self.results else None

    def describe(self) -> str:
        return "; ".join(f"{check_id}: {status} ({message})" for check_id, (status, message) in self.results.items()
                         if status != "skip")


def _lines(stream: Any, into: queue.Queue[str | None]) -> None:
    for line in stream:
        into.put(line.rstrip("\n"))
    into.put(None)


def _check_bounded(path: Path, **kwargs: Any) -> Bounded:
    """``hubcheck.check(path, **kwargs)`` in a child under an address-space cap; fails the test unless it
    answers within ANSWER_WITHIN_S of the child being ready (TensorFlow imported)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path), json.dumps(kwargs), str(ADDRESS_SPACE_HEADROOM),
         str(ANSWER_WITHIN_S - 1)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    lines: queue.Queue[str | None] = queue.Queue()
    errors: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_lines, args=(process.stdout, lines), daemon=True).start()
    stderr_reader = threading.Thread(target=_lines, args=(process.stderr, errors), daemon=True)
    stderr_reader.start()

    def stderr_tail() -> str:
        stderr_reader.join(timeout=5)
        collected: list[str] = []
        while not errors.empty():
            line = errors.get()
            if line is not None:
                collected.append(line)
        return "\n".join(collected[-25:])

    def next_line(stage: str, deadline: float) -> str:
        try:
            line = lines.get(timeout=deadline)
        except queue.Empty:
            line = ""
        if line == "":
            process.kill()
            process.wait(timeout=30)
            pytest.fail(f"hubcheck.check gave no {stage} within {deadline:.0f} s (killed); where it was:\n"
                        f"{stderr_tail()}")
        if line is None:
            process.wait(timeout=30)
            pytest.fail(f"the child died (exit {process.returncode}) before the {stage}:\n{stderr_tail()}")
        return line

    try:
        ready = next_line("ready", STARTUP_WITHIN_S)
        assert ready == "ready", ready
        answer = json.loads(next_line("report", ANSWER_WITHIN_S))
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
    return Bounded(answer["elapsed"], answer["rss_growth"], answer["results"])


@pytest.fixture(scope="module")
def bounded_models(workspace: Path) -> dict[str, Path]:
    root = workspace / "bounded"
    models: dict[str, Path] = {}
    for name, build in (("pb_dev_zero", build_pb_dev_zero), ("pb_fifo", build_pb_fifo),
                        ("lying_const", build_lying_const)):
        models[name] = root / name
        models[name].mkdir(parents=True)
        build(models[name])
    models["deep_chain"] = root / "deep_chain"
    models["deep_chain"].mkdir()
    (root / "deep_chain-drop").mkdir()
    build_deep_chain(models["deep_chain"], root / "deep_chain-drop" / "marker")
    return models


@pytest.mark.slow  # a child process
@pytest.mark.parametrize("name", ["pb_dev_zero", "pb_fifo"])
def test_a_saved_model_pb_that_never_ends_is_answered_promptly(bounded_models: dict[str, Path], name: str) -> None:
    """(i) saved_model.pb -> /dev/zero, (ii) saved_model.pb is a FIFO: a report with load or unsafe-ops
    failing (or erroring) within seconds, having read no more than a bounded prefix."""
    answer = _check_bounded(bounded_models[name])
    assert answer.elapsed < ANSWER_WITHIN_S, answer
    assert answer.rss_growth < MAX_RSS_GROWTH, f"peak RSS grew by {answer.rss_growth / 2**20:.0f} MiB"
    assert answer.status("load") != "pass", answer.describe()
    assert {answer.status("load"), answer.status("unsafe-ops")} & {"fail", "error"}, answer.describe()


@pytest.mark.slow  # a child process
def test_a_const_that_lies_about_its_size_is_never_materialised(bounded_models: dict[str, Path]) -> None:
    """(iii) a Const declaring float32[1600000000] with one stored value: a report within seconds, peak
    RSS growth under 1 GiB (the address-space cap turns a 6.4 GB allocation into a failure, not a swap storm),
    and the model is flagged rather than passed as a normal model (unsafe-ops or load fails)."""
    answer = _check_bounded(bounded_models["lying_const"])
    assert answer.elapsed < ANSWER_WITHIN_S, answer
    assert answer.rss_growth < MAX_RSS_GROWTH, f"peak RSS grew by {answer.rss_growth / 2**20:.0f} MiB"
    assert {answer.status("load"), answer.status("unsafe-ops")} & {"fail", "error"}, answer.describe()


@pytest.mark.slow  # a child process
def test_a_40000_deep_call_chain_is_scanned_promptly(bounded_models: dict[str, Path]) -> None:
    """(iv) __call__ -> hubcheck_chain_0 -> ... -> hubcheck_chain_39999, which writes a file: unsafe-ops
    answers within seconds and fails (the WriteFile is found, or the scan refuses a chain it will not follow)."""
    answer = _check_bounded(bounded_models["deep_chain"], select=["unsafe-ops"])
    assert answer.elapsed < ANSWER_WITHIN_S, answer
    assert answer.status("unsafe-ops") == "fail", answer.describe()


def test_the_bounded_models_are_what_they_claim(bounded_models: dict[str, Path]) -> None:
    """The lying Const and the chain are really in the protos (read as data, never run)."""
    from tensorflow.core.protobuf import saved_model_pb2

    from fixtures.hostile import CHAIN_DEPTH, LYING_CONST_ELEMENTS

    def proto(name: str) -> Any:
        parsed = saved_model_pb2.SavedModel()
        parsed.ParseFromString((bounded_models[name] / "saved_model.pb").read_bytes())
        return parsed

    lying = [node.attr["value"].tensor for function in proto("lying_const").meta_graphs[0].graph_def.library.function
             for node in function.node_def if node.name.startswith("hubcheck_lying_const")]
    assert lying and all(t.tensor_shape.dim[0].size == LYING_CONST_ELEMENTS and not t.tensor_content
                         and list(t.float_val) == [1.0] for t in lying)
    names = {function.signature.name for function in proto("deep_chain").meta_graphs[0].graph_def.library.function}
    assert {f"hubcheck_chain_{index}" for index in range(CHAIN_DEPTH)} <= names
    assert (bounded_models["pb_dev_zero"] / "saved_model.pb").resolve() == Path("/dev/zero")
    assert stat.S_ISFIFO(os.lstat(bounded_models["pb_fifo"] / "saved_model.pb").st_mode)
