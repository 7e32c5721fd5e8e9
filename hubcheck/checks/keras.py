"""The reference consumer: ``hub.KerasLayer`` inside a tf-keras model."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from hubcheck.checks.inference import close_allowing_noise, model_noise, noise_note
from hubcheck.context import CheckContext
from hubcheck.numeric import max_abs_difference
from hubcheck.probe import preserved_variables
from hubcheck.registry import Check
from hubcheck.results import Finding, JSONValue, Status, one_line

if TYPE_CHECKING:
    import numpy as np


class KerasLayerCheck(Check):
    """The model works inside ``hub.KerasLayer`` in a tf-keras model, as consumers use it.

    Fails when wrapping the loaded object in ``hub.KerasLayer`` or predicting
    with it raises, when its output differs from the direct call (for a noisy
    model: by more than its own noise, which ``deterministic`` judges), or, for
    a fine-tunable model, when ``trainable=True`` does not expose all
    trainable variables and regularization losses or one training step fails.
    The step trains what a consumer builds: a tf-keras ``Dense`` head on the
    layer (which casts its input to float32, as tf-keras layers do), a mean
    squared error plus the model's losses; the message is the error that
    consumer gets. The Keras input is fixed where the traces fix it (size,
    batch). When output-shape fails and the layer's symbolic output has no
    known width, the head is put behind a ``tf.reshape`` to the observed shape, as
    a consumer of such a model must: output-shape reports that problem.

    Fix: follow the Reusable SavedModel API that ``hub.KerasLayer`` relies on:
    a ``training`` Python bool argument, ``variables``/``trainable_variables``
    lists of tf.Variable, and zero-argument callables in
    ``regularization_losses``.
    """

    id = "keras-layer"
    title = "Works in hub.KerasLayer"
    requires = ("output-single-tensor",)
    # probes at the plan's batch (the traced one when batch-size fails for it); output-shape's
    # failure is its own: a consumer's Dense head works on any [batch, ..., N] output
    uses = ("batch-size", "output-shape")
    order = 200

    def run(self, ctx: CheckContext) -> Finding:
        training = False if ctx.model.has_training_argument else None
        batch, size = _reference_call(ctx, training)
        direct = ctx.probe.tensor(batch, size, training=training)
        images = ctx.probe.images(ctx.probe.call(batch, size, training=training).key)
        # The training step updates the shared variables; later checks must see the published weights.
        with preserved_variables(ctx.model.root):
            return self._run_layer(ctx, direct, images, size)

    def _run_layer(self, ctx: CheckContext, direct: np.ndarray, images: np.ndarray, size: tuple[int, int]) -> Finding:
        import numpy as np

        from hubcheck.tfimport import graph_optimizer_off, tensorflow

        tf = tensorflow()
        import tensorflow_hub as hub

        fine_tunable = ctx.model.fine_tunable
        stage = "wrapping the model in hub.KerasLayer"
        try:
            layer = hub.KerasLayer(ctx.model.root, trainable=fine_tunable)
            model = _keras_model(ctx, layer, size)
            stage = "predicting with the tf-keras model"
            # Eager calls go through the same KerasLayer code as model.predict/fit (weights, losses,
            # the training flag) without retracing the whole network into a new graph, which costs
            # more than every other check together on a MobileNet-sized model. Like the probe's
            # inference calls, without the graph optimizer: the same shape then reuses the probe's
            # function instantiation instead of paying for a new one.
            with graph_optimizer_off(not ctx.model.swaps_implementations):
                predicted = np.asarray(model(tf.constant(images), training=False))
            tol = ctx.options.tolerances
            noise = model_noise(ctx)
            if not close_allowing_noise(predicted, direct, tol.keras_rtol, tol.keras_atol, noise):
                return Finding.failed(
                    f"hub.KerasLayer output differs from obj(images) (max |diff| "
                    f"{max_abs_difference(predicted, direct):.3g}){noise_note(noise)}.",
                    max_abs_difference=max_abs_difference(predicted, direct),
                )
            if not fine_tunable:
                return Finding.passed(f"hub.KerasLayer output equals the direct call (not fine-tunable){noise_note(noise)}")
            stage = "fine-tuning one step with trainable=True"
            reshape = _reshape_for_head(ctx, model, direct)
            if _input_shape(ctx, ctx.plan.training_size) != _input_shape(ctx, size):
                model = _keras_model(ctx, layer, ctx.plan.training_size)  # the training probe's traced size
            _add_head(model, reshape)  # on the same model, Keras traces only the new layers, not hub.KerasLayer
            return self._fine_tune(ctx, model, layer, reshape)
        except Exception as exc:  # what the consumer would see
            return Finding.failed(f"{stage} raised {one_line(exc)}", stage=stage)

    def _fine_tune(self, ctx: CheckContext, model: Any, layer: Any, reshape: tuple[int, ...] | None) -> Finding:
        import numpy as np

        import tf_keras

        expected_weights = len(ctx.model.trainable_variables)
        expected_losses = len(list(getattr(ctx.model.root, "regularization_losses", None) or []))
        details: dict[str, JSONValue] = {
            "trainable_weights": len(layer.trainable_weights),
            "expected_trainable_weights": expected_weights,
            "losses": len(layer.losses),
            "expected_losses": expected_losses,
        }
        if reshape is not None:
            details["head_reshape"] = list(reshape)
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
        images = ctx.probe.images(ctx.plan.key(ctx.plan.small_batch, ctx.plan.training_size, training=True))
        before = [v.read_value() for v in layer.trainable_weights]  # snapshots, not copies (see preserved_variables)
        optimizer = tf_keras.optimizers.SGD(learning_rate=0.01)
        with tf.GradientTape() as tape:
            outputs = model(tf.constant(images), training=True)
            targets = tf.constant(np.random.default_rng(3).normal(size=outputs.shape).astype(np.float32))
            loss_tensor = tf_keras.losses.MeanSquaredError()(targets, outputs)
            if model.losses:  # cast like Keras' compiled loss does
                loss_tensor += tf.add_n([tf.cast(term, loss_tensor.dtype) for term in model.losses])
        pairs = [(g, v) for g, v in zip(tape.gradient(loss_tensor, model.trainable_weights), model.trainable_weights)
                 if g is not None]
        with tf.name_scope(optimizer.name), tf.init_scope():
            optimizer.build([v for _, v in pairs])  # what apply_gradients does first (where keras_layer_breaks fails)
        # Applied in slices, each slice's gradients dropped once applied: every update copies its weight
        # (the published values are held as snapshots), and the gradients of what is updated already
        # need not stay beside those copies, which takes a copy of the weights off the peak (94 MB on
        # ResNet50). Plain SGD updates each weight by its own gradient alone: the same step.
        step = max(1, -(-len(pairs) // APPLY_SLICES))
        while pairs:
            optimizer.apply_gradients(pairs[:step])
            del pairs[:step]
        loss = float(loss_tensor.numpy())
        # Compared on the host, one weight at a time: a few eager ops per weight cost more than the copy.
        changed = sum(not np.array_equal(b.numpy(), v.numpy()) for b, v in zip(before, layer.trainable_weights))
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


def _reference_call(ctx: CheckContext, training: bool | None) -> tuple[int, tuple[int, int]]:
    """The (batch, size) of the direct call hub.KerasLayer's prediction is compared with.

    A call another check made already and that worked, so that its function instantiation exists and
    only the prediction computes (hub.KerasLayer adds nothing that depends on the images): the small
    batch at the second size (batch-size's cheapest), else the full batch (training-argument's explicit
    ``training=False``), else the run's first call, which output-single-tensor vouches for.
    """
    plan = ctx.plan
    candidates = [(plan.small_batch, plan.second_size), (plan.full_batch, plan.primary_size)]
    for batch, size in candidates:
        made = ctx.probe.made(batch, size, training)
        if made is not None and made.is_tensor:
            return batch, size
    return plan.single_batch, plan.primary_size


# The width of the consumer's head in the fine-tuning step (any small number of classes).
HEAD_UNITS = 3
# The fine-tuning step applies its gradients in this many slices (see _fine_tune).
APPLY_SLICES = 8


def _input_shape(ctx: CheckContext, size: tuple[int, int]) -> tuple[int | None, ...]:
    """The Keras input: a fixed size only where the traces fix it."""
    return (*size, 3) if ctx.plan.traced_sizes else (None, None, 3)


def _keras_model(ctx: CheckContext, layer: Any, size: tuple[int, int]) -> Any:
    """A tf-keras Sequential around ``layer``, with a fixed input size and batch only where the
    traces fix them (:func:`_add_head` adds a consumer's head)."""
    import tf_keras

    input_layer = tf_keras.layers.InputLayer(input_shape=_input_shape(ctx, size), batch_size=ctx.plan.traced_batch)
    with _autograph_off():
        return tf_keras.Sequential([input_layer, layer])


@contextmanager
def _autograph_off() -> Iterator[None]:
    """Build the Keras model without AutoGraph converting hub.KerasLayer's Python.

    tf-keras converts a non-Keras layer's ``call`` when it first calls it symbolically. What it
    converts is tensorflow_hub's own code, the same for every model (its one branch on a tensor is an
    explicit ``smart_cond``, so the graph is the same either way), and the conversion costs 0.15-0.2 s
    per process. The model's functions are graphs already and are never converted.
    """
    try:
        from tensorflow.python.autograph.core import ag_ctx
    except ImportError:  # a TensorFlow that moved it: convert, as before
        yield
        return
    with ag_ctx.ControlStatusCtx(status=ag_ctx.Status.DISABLED):
        yield


def _add_head(model: Any, reshape: tuple[int, ...] | None) -> None:
    """Append a consumer's ``Dense`` head to ``model``, behind a reshape to ``reshape`` if given."""
    import tf_keras

    if reshape is not None:
        from hubcheck.tfimport import tensorflow

        tf = tensorflow()
        shape = [-1, *reshape]  # tf_keras' Reshape cannot take an input of unknown rank
        model.add(tf_keras.layers.Lambda(lambda outputs: tf.reshape(outputs, shape)))
    # Seeded, so that the reported loss is the same on every run.
    model.add(tf_keras.layers.Dense(HEAD_UNITS, kernel_initializer=tf_keras.initializers.GlorotUniform(seed=3)))


def _reshape_for_head(ctx: CheckContext, model: Any, direct: np.ndarray) -> tuple[int, ...] | None:
    """The shape a consumer reshapes the layer's output to before its head, or None.

    Only when output-shape failed (the model's own problem, reported there) and the layer's
    symbolic output has no known width, which no ``Dense`` layer can be built on.
    """
    shape_result = ctx.result("output-shape")
    if shape_result is None or shape_result.status is Status.PASS or direct.ndim < 2:
        return None
    shape = model.output_shape
    known = isinstance(shape, tuple) and len(shape) > 1 and shape[-1] is not None
    return None if known else tuple(int(d) for d in direct.shape[1:])

