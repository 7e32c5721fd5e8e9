"""The pytest plugin through ``pytester``: items, names, outcomes, selection, one run per model, JUnit.

The plugin checks through a fake runner (tests/fakes.py, handed over by the plugin's
``pytest_hubcheck_runner`` hook) that counts its calls and returns hand-built reports, so these
tests need neither TensorFlow nor a model; one slow test runs a real (tiny) model end to end.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeRunner

from hubcheck.options import Task
from hubcheck.registry import available_checks, check_ids, get_check
from hubcheck.results import Status

pytest_plugins = ["pytester"]

# The checks (and numpy, which they import) are loaded here, before any pytester session: a module first
# imported inside one is dropped from sys.modules when it ends, and numpy cannot be imported twice.
available_checks()

STATUSES = {"output-dtype": Status.FAIL, "input-layout": Status.WARN, "logits": Status.SKIP,
            "deterministic": Status.ERROR}


@pytest.fixture
def fake(pytester: pytest.Pytester) -> FakeRunner:
    for name in ("a", "b"):
        (pytester.path / "models" / name).mkdir(parents=True)
    return FakeRunner(fail_details={"dtype": "float16"})


def child(element: ET.Element, tag: str) -> ET.Element:
    """The first ``tag`` child, which must exist."""
    found = element.find(tag)
    assert found is not None, f"no <{tag}> in <{element.tag}>"
    return found


def run(pytester: pytest.Pytester, fake: FakeRunner, *args: str) -> pytest.RunResult:
    """An in-process pytest session, without plugins that only slow it down, checking with ``fake``."""
    return pytester.runpytest("-p", "no:hypothesispytest", "-p", "no:cacheprovider", *args,
                              plugins=[fake.plugin()])


def _ids(result: pytest.RunResult) -> list[str]:
    return [line for line in result.outlines if "::" in line]


def test_inert_unless_asked(fake: FakeRunner, pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    pass\n")
    result = run(pytester, fake, "-q")
    result.assert_outcomes(passed=1)
    assert fake.calls == []


def test_one_item_per_check_named_path_and_check_id(fake: FakeRunner, pytester: pytest.Pytester) -> None:
    result = run(pytester, fake, "--hubcheck", "models/a", "--collect-only", "-q")
    assert _ids(result) == [f"models/a::{check_id}" for check_id in check_ids()]
    result.stdout.fnmatch_lines([f"{len(check_ids())} tests collected*"])
    assert fake.calls == []  # collecting checks nothing


def test_models_from_the_ini_configuration(fake: FakeRunner, pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml('[tool.pytest.ini_options]\nhubcheck_models = ["models/a", "models/b"]\n')
    pytester.mkdir("sub")
    result = run(pytester, fake, "--collect-only", "-q", "--rootdir", str(pytester.path), "sub")
    ids = _ids(result)
    assert len(ids) == 2 * len(check_ids())
    assert ids[0] == f"models/a::{check_ids()[0]}" and ids[-1] == f"models/b::{check_ids()[-1]}"


def test_outcomes_follow_the_statuses(fake: FakeRunner, pytester: pytest.Pytester) -> None:
    fake.statuses["a"] = STATUSES
    result = run(pytester, fake, "--hubcheck", "models/a", "-rA")
    result.assert_outcomes(passed=len(check_ids()) - 3, failed=1, skipped=1, errors=1, warnings=1)
    result.stdout.fnmatch_lines([
        "*_ models/a::output-dtype _*",
        "fail: output-dtype of a",
        'details: {"dtype": "float16"}',
        "how to fix it: hubcheck --explain output-dtype",
    ])
    result.stdout.fnmatch_lines(["  models/a:0: HubcheckWarning: input-layout: warn: input-layout of a"])
    result.stdout.fnmatch_lines(["SKIPPED [[]1[]] models/a: skip: logits of a"])
    result.stdout.fnmatch_lines(["ERROR models/a::deterministic - error: deterministic of a"])
    assert "Traceback" not in result.stdout.str() and "plugin.py" not in result.stdout.str()


def test_each_model_is_checked_once_however_many_items(fake: FakeRunner, pytester: pytest.Pytester) -> None:
    result = run(pytester, fake, "--hubcheck", "models/a", "--hubcheck", "models/b", "--hubcheck", "models/./a")
    result.assert_outcomes(passed=2 * len(check_ids()))
    assert fake.names == ["a", "b"]
    assert all(options.select == frozenset() for _, options in fake.calls)  # nothing deselected: a full run


def test_k_runs_only_the_selected_check_and_what_it_needs(fake: FakeRunner, pytester: pytest.Pytester) -> None:
    result = run(pytester, fake, "--hubcheck", "models/a", "--hubcheck", "models/b", "-k", "output-dtype and a", "-v")
    result.assert_outcomes(passed=1, deselected=2 * len(check_ids()) - 1)
    result.stdout.fnmatch_lines(["models/a::output-dtype PASSED*"])
    assert fake.names == ["a"]  # model b: every item deselected, never checked
    select = fake.calls[0][1].select
    assert "output-dtype" in select and set(get_check("output-dtype").requires) <= select
    assert "keras-layer" not in select and len(select) < len(check_ids())


def test_deselect_narrows_the_run(fake: FakeRunner, pytester: pytest.Pytester) -> None:
    result = run(pytester, fake, "--hubcheck", "models/a", "--deselect", "models/a::keras-layer")
    result.assert_outcomes(passed=len(check_ids()) - 1, deselected=1)
    assert len(fake.calls) == 1 and "keras-layer" not in fake.calls[0][1].select


def test_exitfirst_stops_at_the_first_failed_check(fake: FakeRunner, pytester: pytest.Pytester) -> None:
    fake.statuses["a"] = {check_ids()[1]: Status.FAIL, check_ids()[3]: Status.FAIL}
    result = run(pytester, fake, "--hubcheck", "models/a", "-x")
    result.assert_outcomes(passed=1, failed=1)  # the first passed, the second failed, nothing after it ran


def test_junitxml_has_one_testcase_per_check(fake: FakeRunner, pytester: pytest.Pytester) -> None:
    fake.statuses["a"] = STATUSES
    run(pytester, fake, "--hubcheck", "models/a", "--junitxml", "out.xml")
    suite = child(ET.parse(pytester.path / "out.xml").getroot(), "testsuite")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert list(cases) == check_ids()
    assert {case.get("classname") for case in cases.values()} == {"models.a"}
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == (
        str(len(check_ids())), "1", "1", "1")
    assert (child(cases["output-dtype"], "failure").get("message") or "").startswith("fail: output-dtype of a")
    assert child(cases["logits"], "skipped").get("message") == "skip: logits of a"
    assert child(cases["deterministic"], "error").get("message") == 'failed on setup with "error: deterministic of a"'
    assert list(cases["load"]) == []


def test_configuration_file_and_options(fake: FakeRunner, pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(
        '[tool.hubcheck]\nstrict = true\nignore = ["keras-layer"]\ntask = "image-feature-vector"\n'
        '[tool.hubcheck.models."models/b"]\ntask = "image-classification"\nignore = []\n'
    )
    fake.statuses["a"] = {"input-layout": Status.WARN}
    result = run(pytester, fake, "--hubcheck", "models/a", "--hubcheck", "models/b", "--hubcheck-input-size", "32x32")
    n = len(check_ids())
    result.assert_outcomes(passed=(n - 1) + n - 1, failed=1)  # a has no keras-layer item; strict: warn fails
    result.stdout.fnmatch_lines(["warning (strict: warnings fail): warn: input-layout of a"])
    options = {path.name: options for path, options in fake.calls}
    assert options["a"].task is Task.FEATURE_VECTOR and options["b"].task is Task.CLASSIFICATION
    assert options["a"].input_sizes == options["b"].input_sizes == ((32, 32),)

    fake.calls.clear()
    run(pytester, fake, "--hubcheck", "models/b", "--hubcheck-task", "auto", "--hubcheck-allow-unsafe-ops")
    assert fake.calls[0][1].task is Task.AUTO  # the command line overrides the file
    assert fake.calls[0][1].allow_unsafe_ops and not options["b"].allow_unsafe_ops


@pytest.mark.parametrize(
    ("args", "config", "message"),
    [
        (["--hubcheck", "models/missing"], None, "*hubcheck: no such model path: *models/missing"),
        (["--hubcheck", "models/a"], "[tool.hubcheck]\nstrictness = true\n",
         "*pyproject.toml: [[]tool.hubcheck[]]: unknown key 'strictness'*"),
        (["--hubcheck", "models/a", "--hubcheck-input-size", "big"], None, "*HEIGHTxWIDTH*"),
        (["--hubcheck", "models/a", "--hubcheck-config", "nope.toml"], None, "*nope.toml: no such configuration file"),
    ],
)
def test_usage_errors(fake: FakeRunner, pytester: pytest.Pytester, args: list[str], config: str | None,
                      message: str) -> None:
    if config:
        pytester.makepyprojecttoml(config)
    result = run(pytester, fake, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert fake.calls == []


def test_a_crash_errors_every_item_of_that_model_after_one_attempt(fake: FakeRunner, pytester: pytest.Pytester) -> None:
    fake.crash_on = "a"
    result = run(pytester, fake, "--hubcheck", "models/a", "--hubcheck", "models/b")
    result.assert_outcomes(errors=len(check_ids()), passed=len(check_ids()))
    result.stdout.fnmatch_lines(["*hubcheck itself crashed while checking*models/a*",
                                 "*RuntimeError: a bug in hubcheck*"])
    assert fake.names == ["a", "b"]


def test_report_fixture_shares_the_cache_with_the_items(fake: FakeRunner, pytester: pytest.Pytester) -> None:
    fake.statuses["a"] = {"output-dtype": Status.FAIL}
    pytester.makepyfile(
        """
        def test_own(hubcheck_report):
            report = hubcheck_report("models/a")
            assert report is hubcheck_report("models/a")
            assert report.status == "fail"
            assert report.result("output-dtype").message == "fail: output-dtype of a"

        def test_other_options(hubcheck_report):
            report = hubcheck_report("models/a", select=["load"], task="image-classification")
            assert [result.id for result in report.checks] == ["load"]
        """
    )
    result = run(pytester, fake, "--hubcheck", "models/a")
    result.assert_outcomes(passed=len(check_ids()) - 1 + 2, failed=1)
    assert len(fake.calls) == 2  # the default-options report once for the items and test_own, plus test_other
    assert fake.calls[1][1].task is Task.CLASSIFICATION


@pytest.mark.slow  # runs a child process
def test_collection_does_not_import_tensorflow(pytester: pytest.Pytester) -> None:
    pytester.mkdir("model")
    pytester.makeconftest(
        "import sys\n\ndef pytest_collection_finish(session):\n"
        "    print('tensorflow imported:', 'tensorflow' in sys.modules)\n"
    )
    result = pytester.runpytest_subprocess("--hubcheck", "model", "--collect-only", "-q", "-s")
    result.stdout.fnmatch_lines(["model::load"])
    result.stdout.fnmatch_lines(["tensorflow imported: False"])


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A conformant feature-vector SavedModel: [B, H, W, 3] float32 -> mean colour [B, 3].

    Session-scoped so that TensorFlow is imported before any ``pytester`` snapshot of
    ``sys.modules``: a snapshot restored after an import would make the next import of
    TensorFlow initialise its native runtime a second time, which aborts the process.
    """
    from hubcheck.tfimport import tensorflow

    tf = tensorflow()

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    def mean_color(images: Any) -> Any:
        return tf.reduce_mean(images, axis=[1, 2])

    root = tf.train.Checkpoint()
    root.variables = []
    root.__call__ = mean_color
    model = tmp_path_factory.mktemp("real") / "tiny"
    tf.saved_model.save(root, str(model))
    return model


@pytest.mark.slow
def test_a_real_model_end_to_end(pytester: pytest.Pytester, tiny_model: Path) -> None:
    pytester.makeconftest(
        """
        from hubcheck.runners import InProcessRunner

        runs = []

        class CountingRunner(InProcessRunner):
            def run(self, path, options, **kwargs):
                runs.append(path)
                return super().run(path, options, **kwargs)

        def pytest_hubcheck_runner(config):
            return CountingRunner()

        def pytest_terminal_summary(terminalreporter):
            terminalreporter.write_line(f"models checked: {len(runs)}")
        """
    )
    # In a child process: the run imports TensorFlow's friends (tf_keras, tensorflow_hub), which
    # an in-process run would drop from sys.modules afterwards.
    result = pytester.runpytest_subprocess("--hubcheck", str(tiny_model), "--junitxml", "out.xml",
                                           "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0 and outcomes.get("errors", 0) == 0, result.stdout.str()
    assert outcomes["passed"] >= 10
    result.stdout.fnmatch_lines(["models checked: 1"])  # one run, through the conftest's runner, for all the items
    cases = {case.get("name"): case for case in ET.parse(pytester.path / "out.xml").getroot().iter("testcase")}
    assert list(cases) == check_ids()
    assert list(cases["output-shape"]) == [] and list(cases["load"]) == []
    assert child(cases["logits"], "skipped") is not None  # a feature vector: the classifier check does not apply
