"""``[tool.hubcheck]``: finding the file, reading good files, rejecting bad ones, layering settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubcheck.config import Config, ConfigError, Settings, find_config, load_config
from hubcheck.options import RunOptions, Task, Tolerances

GOOD = """
[project]
name = "my-models"

[tool.hubcheck]
task = "image-feature-vector"
input-sizes = ["224x224", [160, 192]]
select = ["load", "output-dtype", "output-shape", "keras-layer"]
ignore = ["keras-layer"]
strict = true

[tool.hubcheck.tolerances]
rtol = 1e-3
atol = 0

[tool.hubcheck.models."models/classifier"]
task = "image-classification"
ignore = []
tolerances = { atol = 1e-4 }

[tool.hubcheck.models."../shared/other"]
strict = false
"""


def write(folder: Path, text: str, name: str = "pyproject.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def test_good_file_gives_global_and_per_model_options(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.path == tmp_path / "pyproject.toml"
    assert config.run_options(tmp_path / "models" / "plain") == RunOptions(
        task=Task.FEATURE_VECTOR,
        input_sizes=((224, 224), (160, 192)),
        select=frozenset({"load", "output-dtype", "output-shape", "keras-layer"}),
        ignore=frozenset({"keras-layer"}),
        strict=True,
        tolerances=Tolerances(rtol=1e-3, atol=0.0),
    )
    classifier = config.run_options(tmp_path / "models" / "classifier")
    assert classifier.task is Task.CLASSIFICATION
    assert classifier.ignore == frozenset()  # replaced, not merged
    assert classifier.select == frozenset({"load", "output-dtype", "output-shape", "keras-layer"})  # inherited
    assert classifier.tolerances == Tolerances(rtol=1e-3, atol=1e-4)  # merged name by name
    assert classifier.strict is True
    assert config.run_options(tmp_path.parent / "shared" / "other").strict is False  # relative to the file


def test_per_model_tables_match_however_the_model_path_is_spelled(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(write(tmp_path, GOOD))
    monkeypatch.chdir(tmp_path / "..")
    spelled = Path(tmp_path.name) / "models" / "." / "classifier"
    assert config.run_options(spelled).task is Task.CLASSIFICATION


def test_command_line_layer_overrides_the_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    cli = Settings(task=Task.AUTO, strict=False, select=frozenset({"load"}), tolerances=(("atol", 1e-2),))
    options = config.run_options(tmp_path / "models" / "classifier", cli)
    assert (options.task, options.strict, options.select) == (Task.AUTO, False, frozenset({"load"}))
    assert options.tolerances == Tolerances(rtol=1e-3, atol=1e-2)
    assert options.input_sizes == ((224, 224), (160, 192))  # not given on the command line: the file's


def test_no_table_anywhere_is_the_empty_configuration(tmp_path: Path) -> None:
    write(tmp_path, '[project]\nname = "x"\n')
    assert find_config(tmp_path) is None
    config = load_config(start=tmp_path)
    assert config == Config()
    assert config.run_options(tmp_path) == RunOptions()


def test_discovery_walks_up_past_pyprojects_without_the_table(tmp_path: Path) -> None:
    top = write(tmp_path, GOOD)
    nested = tmp_path / "sub" / "project"
    write(nested, '[project]\nname = "inner"\n')
    (nested / "deeper").mkdir()
    assert find_config(nested / "deeper") == top
    assert load_config(start=nested).settings.task is Task.FEATURE_VECTOR
    own = write(nested, '[tool.hubcheck]\ntask = "image-classification"\n')
    assert find_config(nested) == own


def test_explicit_file_may_have_any_name(tmp_path: Path) -> None:
    path = write(tmp_path, '[tool.hubcheck]\nstrict = true\n', name="ci-hubcheck.toml")
    assert load_config(path).settings.strict is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[tool.hubcheck]\nselct = ["load"]\n', "unknown key 'selct' (did you mean 'select'?"),
        ('[tool.hubcheck]\ninput_sizes = ["224x224"]\n', "did you mean 'input-sizes'?"),
        ('[tool.hubcheck.models."m"]\nmodels = {}\n', "[tool.hubcheck.models.\"m\"]: unknown key 'models'"),
        ('[tool.hubcheck]\ntask = "detection"\n', "task: must be one of auto, image-feature-vector"),
        ('[tool.hubcheck]\nselect = "load"\n', "select: must be an array of check ids"),
        ('[tool.hubcheck]\nignore = ["output-dtyp"]\n',
         "ignore: unknown check id 'output-dtyp'; did you mean 'output-dtype'?"),
        ('[tool.hubcheck]\ninput-sizes = ["224"]\n', "input-sizes: input size must look like HEIGHTxWIDTH"),
        ('[tool.hubcheck]\ninput-sizes = [[224, 0]]\n', "input-sizes: input size 224x0 is out of range"),
        ('[tool.hubcheck]\ninput-sizes = "224x224"\n', "input-sizes: must be an array"),
        ('[tool.hubcheck]\nstrict = "yes"\n', "strict: must be true or false; got a string ('yes')"),
        ('[tool.hubcheck.tolerances]\nrtol = -1\n', "tolerance rtol must be a non-negative number"),
        ('[tool.hubcheck.tolerances]\nspeed = 1\n', "unknown tolerance speed"),
        ('[tool.hubcheck.tolerances]\nrtol = true\n', "tolerances.rtol: must be a number; got a boolean"),
        ('[tool.hubcheck]\nmodels = ["a"]\n', "models must be a table"),
        ('[tool.hubcheck.models]\na = 1\n', '[tool.hubcheck.models."a"] must be a table'),
        ('[tool.hubcheck.models."m"]\ntask = 3\n', '[tool.hubcheck.models."m"] task: must be one of'),
        ("[tool.hubcheck]\ntask = \n", "not valid TOML"),
        ("[tool]\nother = 1\n", "has no [tool.hubcheck] table"),
        ('[tool.hubcheck]\nallow-unsafe-ops = true\n', "allow-unsafe-ops cannot be set in a configuration file"),
        ('[tool.hubcheck.models."m"]\nallow_unsafe_ops = true\n', "allow_unsafe_ops cannot be set in a"),
    ],
)
def test_bad_files_are_errors_naming_the_file_and_the_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert expected in str(caught.value)


def test_a_broken_pyproject_met_during_discovery_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "[tool.hubcheck\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(start=tmp_path)


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "nope.toml")


def test_two_tables_for_the_same_model_are_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, '[tool.hubcheck.models."m"]\n[tool.hubcheck.models."./m"]\n')
    with pytest.raises(ConfigError, match="names the same model"):
        load_config(path)


def test_settings_of_python_values_validates_them() -> None:
    settings = Settings.of(task="image-classification", input_sizes=[(32, 48), "64x64"], select="load, output-dtype",
                           tolerances={"rtol": 0.5})
    assert settings.task is Task.CLASSIFICATION
    assert settings.input_sizes == ((32, 48), (64, 64))
    assert settings.select == frozenset({"load", "output-dtype"})
    assert settings.ignore is None and settings.strict is None
    with pytest.raises(ValueError, match="unknown task 'detection'"):
        Settings.of(task="detection")
    with pytest.raises(ValueError, match="unknown check id bogus"):
        Settings.of(ignore=["bogus"])
