"""The reference consumer: ``hub.KerasLayer`` inside a tf-keras model."""

from __future__ import annotations

from typing import Any

import numpy as np

from hubcheck.context import CheckContext
from hubcheck.numeric import allclose, max_abs_difference
from hubcheck.plan import FULL_BATCH, SMALL_BATCH
from hubcheck.probe import preserved_variables
from hubcheck.registry import Check
from hubcheck.results import Finding, JSONValue, one_line


class KerasLayerCheck(Check):
    """The model works inside ``hub.KerasLayer`` in a tf-keras model, as consumers use it.

    Fails when wrapping the loaded object in ``hub.KerasLayer`` or predicting
    with it raises, when its output differs from the direct call, or, for a
    fine-tunable model, when ``trainable=True`` does not expose all trainable
    variables and regularization losses or one training step fails.

    Fix: follow the Reusable SavedModel API that ``hub.KerasLayer`` relies on:
    a ``training`` Python bool argument, ``variables``/``trainable_variables``
    lists of tf.Variable, and zero-argument callables in
    ``regularization_losses``.
    """

    id = "keras-layer"
    title = "Works in hub.KerasLayer"
    requires = ("output-shape", "batch-size")
    order = 200

    def run(self, ctx: CheckContext) -> Finding:
        training = False if ctx.model.has_training_argument else None
        direct = ctx.probe.tensor(FULL_BATCH, training=training)
        images = ctx.probe.images(ctx.probe.call(FULL_BATCH, training=training).key)
        # The training step updates the shared variables; later checks must see the published weights.
        with preserved_variables(ctx.model.root):
            return self._run_layer(ctx, direct, images)

    def _run_layer(self, ctx: CheckContext, direct: np.ndarray, images: np.ndarray) -> Finding:
        from hubcheck.tfimport import tensorflow

        tf = tensorflow()
        import tensorflow_hub as hub

        fine_tunable = ctx.model.fine_tunable
        stage = "wrapping the model in hub.KerasLayer"
        try:
            layer = hub.KerasLayer(ctx.model.root, trainable=fine_tunable)
            model = _keras_model(ctx, layer, ctx.plan.primary_size)
            stage = "predicting with the tf-keras model"
            # Eager calls go through the same KerasLayer code as model.predict/fit (weights, losses,
            # the training flag) without retracing the whole network into a new graph, which costs
            # more than every other check together on a MobileNet-sized model.
            predicted = np.asarray(model(tf.constant(images), training=False))
            tol = ctx.options.tolerances
            if not allclose(predicted, direct, tol.keras_rtol, tol.keras_atol):
                return Finding.failed(
                    f"hub.KerasLayer output differs from obj(images) (max |diff| "
                    f"{max_abs_difference(predicted, direct):.3g}).",
                    max_abs_difference=max_abs_difference(predicted, direct),
                )
            if not fine_tunable:
                return Finding.passed("hub.KerasLayer output equals the direct call (not fine-tunable)")
            stage = "fine-tuning one step with trainable=True"
            # The training step runs at the training probe's size, which may be another traced size.
            return self._fine_tune(ctx, _keras_model(ctx, layer, ctx.plan.training_size), layer)
        except Exception as exc:  # what the consumer would see
            return Finding.failed(f"{stage} raised {one_line(exc)}", stage=stage)

    def _fine_tune(self, ctx: CheckContext, model: Any, layer: Any) -> Finding:
        import tf_keras

        expected_weights = len(ctx.model.trainable_variables)
        expected_losses = len(list(getattr(ctx.model.root, "regularization_losses", None) or []))
        details: dict[str, JSONValue] = {
            "trainable_weights": len(layer.trainable_weights),
            "expected_trainable_weights": expected_weights,
            "losses": len(layer.losses),
            "expected_losses": expected_losses,
        }
        if len(layer.trainable_weights) != expected_weights:
            return Finding.failed(
                f"With trainable=True, hub.KerasLayer exposes {len(layer.trainable_weights)} trainable weights, "
                f"but obj.trainable_variables has {expected_weights}.",
                **details,
            )
        if len(layer.losses) != expected_losses:
            return Finding.failed(
                f"hub.KerasLayer forwards {len(layer.losses)} regularization losses, expected {expected_losses}.",
                **details,
            )
        from hubcheck.tfimport import tensorflow

        tf = tensorflow()
        # The training-mode probe's images and shape, whose (taped) instantiation exists already.
        probe_call = ctx.probe.call(SMALL_BATCH, ctx.plan.training_size, training=True)
        images = ctx.probe.images(probe_call.key)
        before = [v.numpy() for v in layer.trainable_weights]
        optimizer = tf_keras.optimizers.SGD(learning_rate=0.01)
        targets = tf.constant(np.random.default_rng(3).normal(size=np.asarray(probe_call.value).shape).astype(np.float32))
        with tf.GradientTape() as tape:
            outputs = model(tf.constant(images), training=True)
            loss_tensor = tf.reduce_mean(tf.square(outputs - targets))
            if model.losses:  # cast like Keras' compiled loss does
                loss_tensor += tf.add_n([tf.cast(term, loss_tensor.dtype) for term in model.losses])
        gradients = tape.gradient(loss_tensor, model.trainable_weights)
        optimizer.apply_gradients(
            [(g, v) for g, v in zip(gradients, model.trainable_weights) if g is not None]
        )
        loss = float(loss_tensor.numpy())
        changed = sum(not np.array_equal(b, v.numpy()) for b, v in zip(before, layer.trainable_weights))
        details.update(loss=loss if np.isfinite(loss) else None, weights_changed=changed)
        if not np.isfinite(loss):
            return Finding.failed(f"One training step through hub.KerasLayer gave a non-finite loss ({loss}).", **details)
        if changed == 0:
            return Finding.failed("One training step through hub.KerasLayer changed no trainable weight.", **details)
        return Finding.passed(
            f"hub.KerasLayer output equals the direct call; trainable=True exposes {expected_weights} weights and "
            f"{expected_losses} losses, and a training step updates {changed} of them",
            **details,
        )


def _keras_model(ctx: CheckContext, layer: Any, size: tuple[int, int]) -> Any:
    """A tf-keras Sequential around ``layer``, with a fixed input size only where the traces fix sizes."""
    import tf_keras

    input_shape = (*size, 3) if ctx.plan.traced_sizes else (None, None, 3)
    return tf_keras.Sequential([tf_keras.layers.InputLayer(input_shape=input_shape), layer])

