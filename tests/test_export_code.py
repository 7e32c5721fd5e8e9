"""Sources that are Python code: subclassed Keras models export live from Python (they have no ``inputs``) and
are refused with a hint as files; a Lambda layer's code in a tf-keras file never runs in the export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import hubcheck
from hubcheck.cli import main
from hubcheck.exporter.sources import keras_flavour

FINE_TUNING_CHECKS = ("training-argument", "trainable-variables", "gradient-flow", "regularization-losses",
                      "keras-layer")


def _keras3() -> Any:
    from hubcheck.exporter.sources import keras3

    keras = keras3()
    keras.utils.set_random_seed(5)
    return keras


def _keras3_subclassed() -> Any:
    keras = _keras3()
    layers = keras.layers

    class Classifier(keras.Model):  # type: ignore[misc]
        """Defined here, as a user's module would: its class's module is not Keras's."""

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.conv = layers.Conv2D(6, 3, strides=2, kernel_regularizer=keras.regularizers.L2(1e-3))
            self.norm = layers.BatchNormalization()
            self.drop = layers.Dropout(0.3)
            self.pool = layers.GlobalAveragePooling2D()
            self.head = layers.Dense(4, activation="softmax")

        def call(self, images: Any, training: bool = False) -> Any:
            x = keras.ops.relu(self.norm(self.conv(images), training=training))
            return self.head(self.drop(self.pool(x), training=training))

    model = Classifier()
    model(np.zeros((1, 20, 20, 3), np.float32))  # a subclassed model is built by its first call
    return model


def _tf_keras_subclassed() -> Any:
    from hubcheck.tfimport import tensorflow

    tensorflow()
    import tf_keras

    tf_keras.utils.set_random_seed(5)

    class Embedder(tf_keras.Model):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.conv = tf_keras.layers.Conv2D(5, 3, activation="relu")
            self.pool = tf_keras.layers.GlobalMaxPooling2D()

        def call(self, images: Any, training: bool = False) -> Any:
            return self.pool(self.conv(images))

    model = Embedder()
    model(np.zeros((2, 16, 16, 1), np.float32))
    return model


@pytest.mark.slow
def test_live_subclassed_keras3_model_exports_fine_tunable(tmp_path: Path) -> None:
    model = _keras3_subclassed()
    assert type(model).__module__ == __name__ and keras_flavour(model) == "keras3"
    result = hubcheck.export(model, tmp_path / "out", logits="softmax", task="image-classification")
    assert result.source_kind == "keras3-model" and result.fine_tunable
    assert result.input_shape == (None, None, None, 3)  # the building call fixes no size
    assert result.report is not None and result.report.status.value == "pass"
    assert {check: result.report.result(check).status.value for check in FINE_TUNING_CHECKS} == dict.fromkeys(
        FINE_TUNING_CHECKS, "pass")
    images = np.random.default_rng(0).random((3, 24, 28, 3)).astype(np.float32)
    written = hubcheck_load(tmp_path / "out")(images).numpy()
    np.testing.assert_allclose(written, np.log(np.asarray(model(images, training=False))), rtol=1e-4, atol=1e-5)


def hubcheck_load(path: Path) -> Any:
    from hubcheck.tfimport import tensorflow

    return tensorflow().saved_model.load(str(path))


def test_live_subclassed_tf_keras_model_takes_its_channels_from_the_building_call(tmp_path: Path) -> None:
    model = _tf_keras_subclassed()
    result = hubcheck.export(model, tmp_path / "out", grayscale=True, run_checks=False)
    assert result.source_kind == "tf-keras-model" and result.fine_tunable
    assert result.input_shape == (None, None, None, 3) and result.output_width == 5


def test_never_called_subclassed_model_is_refused_with_what_to_do(tmp_path: Path) -> None:
    keras = _keras3()

    class Unbuilt(keras.Model):  # type: ignore[misc]
        def call(self, images: Any) -> Any:
            return images

    with pytest.raises(hubcheck.exporter.ExportError, match="call it once on an image batch"):
        hubcheck.export(Unbuilt(), tmp_path / "out", run_checks=False)
    assert not (tmp_path / "out").exists()


def test_subclassed_keras_file_is_refused_saying_to_export_the_live_model(tmp_path: Path) -> None:
    keras = _keras3()

    @keras.saving.register_keras_serializable(package="hubcheck_test")
    class Registered(keras.Model):  # type: ignore[misc]
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.pool = keras.layers.GlobalAveragePooling2D()

        def call(self, images: Any) -> Any:
            return self.pool(images)

    model = Registered()
    model(np.zeros((1, 8, 8, 3), np.float32))
    model.save(tmp_path / "sub.keras")
    keras.saving.get_custom_objects().pop("hubcheck_test>Registered")  # as in a process without the class
    result = CliRunner().invoke(main, ["export", str(tmp_path / "sub.keras"), str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert "'Registered'" in result.output and "hubcheck.export(model, OUT" in result.output
    assert "Full object config" not in result.output  # Keras's config dump is not the user's news
    assert not (tmp_path / "out").exists()


def test_lambda_code_in_a_tf_keras_file_never_runs(tmp_path: Path) -> None:
    """tf-keras's load_model(safe_mode=True) checks only the .keras format: an HDF5 file's Lambda layer ran its
    marshalled Python code in the exporting process."""
    import warnings

    from hubcheck.tfimport import tensorflow

    tensorflow()
    import tf_keras

    marker = tmp_path / "lambda-ran"
    model = tf_keras.Sequential([
        tf_keras.Input((8, 8, 3)),
        tf_keras.layers.Lambda(lambda x, path=str(marker): (open(path, "w").close(), x)[1]),
        tf_keras.layers.GlobalAveragePooling2D(),
        tf_keras.layers.Dense(2),
    ])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save(str(tmp_path / "lambda.h5"), save_format="h5")
    model.save(str(tmp_path / "lambda_saved_model"), save_format="tf")
    marker.unlink()  # building and saving the model ran it; from here on nothing may

    result = CliRunner().invoke(main, ["export", str(tmp_path / "lambda.h5"), str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert "Lambda layer holding Python code" in result.output and "hubcheck.export(model, OUT" in result.output
    assert not marker.exists() and not (tmp_path / "out").exists()
    # a tf-keras SavedModel is rebuilt from its traced graph instead: it exports, and the code still never runs
    exported = hubcheck.export(tmp_path / "lambda_saved_model", tmp_path / "out2", run_checks=False)
    assert exported.source_kind == "tf-keras-saved-model" and exported.output_width == 2
    assert not marker.exists()
