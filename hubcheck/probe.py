"""Forward passes of the model, memoized per :class:`ProbeKey`, and the policy for taped calls.

Checks ask the probe for calls by key; the first request pays for the forward
pass and every later one reuses it, so no two checks pay for the same call.
``repeat`` distinguishes deliberate re-runs of the same input (determinism,
dropout), which must not be served from the memo. :class:`ModelProbe` is what
checks see: it names calls by batch, size and mode (through the run's
:class:`~hubcheck.plan.ProbePlan`) and owns the tape policy. The checks that
drive the model through other consumers (``keras-layer`` through
``hub.KerasLayer``, ``regularization-losses`` calling the loss functions) call
the loaded object directly, with the probe's images.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hubcheck.images import make_batch
from hubcheck.results import one_line

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True, order=True)
class ProbeKey:
    batch: int
    height: int
    width: int
    training: bool | None = None  # None: the argument is not passed
    repeat: int = 0
    offset: int = 0  # the batch holds probe images offset .. offset + batch - 1 (see hubcheck.images)

    def describe(self) -> str:
        mode = "" if self.training is None else f", training={self.training}"
        again = f", run {self.repeat + 1}" if self.repeat else ""
        images = f", images {self.offset}-{self.offset + self.batch - 1}" if self.offset else ""
        return f"[{self.batch},{self.height},{self.width},3]{mode}{again}{images}"


@dataclass(frozen=True)
class ProbeCall:
    """The outcome of one forward pass."""

    key: ProbeKey
    seconds: float
    error: str | None = None  # one line, when the call raised
    kind: str = "tensor"  # tensor, dict, list, tuple or another Python type name
    structure: str = ""  # human description of a non-tensor result
    dtype: str | None = None
    shape: tuple[int | None, ...] | None = None
    value: np.ndarray | None = None
    taped: bool = False  # recorded under a GradientTape (a separate function instantiation)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def is_tensor(self) -> bool:
        return self.ok and self.kind == "tensor"


@dataclass(frozen=True)
class GradientProbe:
    """Which trainable variables a loss on a training-mode output reaches."""

    key: ProbeKey
    error: str | None
    reached: tuple[str, ...] = ()
    missed: tuple[str, ...] = ()  # no gradient at all: not connected to the output
    zero: tuple[str, ...] = ()  # connected, but the gradient is all zeros for the probe images


@contextmanager
def preserved_variables(root: Any) -> Iterator[None]:
    """Restore every variable in ``root.variables`` to its current value on exit.

    The saved values are snapshots (``read_value``), not copies: TensorFlow copies a variable's
    buffer when it is updated while a snapshot still holds it, so only the variables that change
    (batch-norm statistics, a training step's weights) cost memory, instead of a copy of every weight.
    """
    variables = list(getattr(root, "variables", None) or [])
    saved = [variable.read_value() for variable in variables]
    try:
        yield
    finally:
        for variable, value in zip(variables, saved):
            variable.assign(value)


def _leaf_shapes(result: Any) -> list[str]:
    from hubcheck.tfimport import tensorflow

    leaves = tensorflow().nest.flatten(result)
    shapes = [f"{leaf.dtype.name}{list(leaf.shape)}" for leaf in leaves if hasattr(leaf, "dtype") and hasattr(leaf, "shape")]
    return shapes


def _describe_structure(result: Any) -> tuple[str, str]:
    """``("list", "list of 2 items holding 10 tensors: float32[5, 40, 40, 64], ...")``."""
    if isinstance(result, dict):
        kind, head = "dict", f"dict with keys {sorted(map(str, result))}"
    elif isinstance(result, (list, tuple)):
        kind, head = type(result).__name__, f"{type(result).__name__} of {len(result)} items"
    else:
        return type(result).__name__, f"a {type(result).__name__}"
    shapes = _leaf_shapes(result)
    if not shapes:
        return kind, head
    shown = ", ".join(shapes[:3]) + (", ..." if len(shapes) > 3 else "")
    return kind, f"{head} holding {len(shapes)} tensor(s): {shown}"


class Probe:
    """Memoizing forward passes of ``root`` on deterministic probe images."""

    def __init__(self, root: Any, tape_training_calls: bool = False, skip_graph_optimizer: bool = True) -> None:
        self._root = root
        self._tape_training_calls = tape_training_calls
        self._skip_graph_optimizer = skip_graph_optimizer  # for untaped inference calls: see graph_optimizer_off
        self._calls: dict[ProbeKey, ProbeCall] = {}
        self._gradients: dict[ProbeKey, GradientProbe] = {}

    @property
    def calls(self) -> Sequence[ProbeCall]:
        """Every call made so far, in a stable order."""
        return [self._calls[key] for key in sorted(self._calls, key=_sort_key)]

    def images(self, key: ProbeKey) -> np.ndarray:
        return make_batch(key.batch, key.height, key.width, key.offset)

    def _invoke(self, key: ProbeKey, under_tape: bool = False) -> Any:
        from hubcheck.tfimport import graph_optimizer_off, tensorflow

        tf = tensorflow()
        images = tf.constant(self.images(key))
        if key.training is None and under_tape:  # a model without a training argument, differentiated
            return self._root(images)
        if not key.training:
            with graph_optimizer_off(self._skip_graph_optimizer):  # untaped inference: see there
                return self._root(images) if key.training is None else self._root(images, training=False)
        # Training mode may update state (batch-norm moving statistics); put the published
        # values back so that later inference calls see the model as it was shipped.
        with preserved_variables(self._root):
            if self._tape_training_calls and not under_tape:  # never nest tapes: that asks for 2nd order
                with tf.GradientTape():
                    return self._root(images, training=True)
            return self._root(images, training=True)

    def call(self, key: ProbeKey) -> ProbeCall:
        if key not in self._calls:
            self._calls[key] = self._make(key)
        return self._calls[key]

    def made(self, key: ProbeKey) -> ProbeCall | None:
        return self._calls.get(key)

    def _make(self, key: ProbeKey) -> ProbeCall:
        started = time.perf_counter()
        try:
            result = self._invoke(key)
        except Exception as exc:  # the model's own failure is a finding, not a crash
            return ProbeCall(key, time.perf_counter() - started, error=one_line(exc))
        record = self._record(key, result, time.perf_counter() - started)
        taped = self._tape_training_calls and key.training is True
        return dataclasses.replace(record, taped=True) if taped else record

    def make_at_once(self, keys: Sequence[ProbeKey]) -> None:
        """Make the untaped inference calls of ``keys`` not made yet at the same time, each in a thread of
        its own (at most one per core); later :meth:`call` requests are served from the memo.

        Only for a model whose inference calls keep no state (:mod:`hubcheck.graph.state`), so that each
        result is what it would be alone. At a new shape most of a call's time is TensorFlow
        instantiating the function for it, single-threaded and outside Python's lock (0.25-0.3 s per
        shape on ResNet50): on two cores, three shapes instantiate in about the time of two. The graph
        optimizer's switch is set once around them all, since the threads share it.
        """
        import os

        pending = [key for key in dict.fromkeys(keys) if key not in self._calls and key.training is not True]
        if len(pending) < 2:
            return
        from concurrent.futures import ThreadPoolExecutor

        from hubcheck.tfimport import graph_optimizer_off

        workers = min(len(pending), max(2, os.cpu_count() or 2))
        with graph_optimizer_off(self._skip_graph_optimizer), ThreadPoolExecutor(
                max_workers=workers, thread_name_prefix="hubcheck-probe") as pool:
            for key, made in zip(pending, pool.map(self._make, pending)):
                self._calls[key] = made

    def _record(self, key: ProbeKey, result: Any, seconds: float) -> ProbeCall:
        from hubcheck.tfimport import tensorflow

        tf = tensorflow()
        if isinstance(result, (tf.Tensor, tf.Variable)) and not isinstance(result, tf.RaggedTensor):
            value = result.numpy()
            return ProbeCall(
                key, seconds, kind="tensor", dtype=result.dtype.name, shape=tuple(value.shape), value=value
            )
        kind, structure = _describe_structure(result)
        return ProbeCall(key, seconds, kind=kind, structure=structure)

    def gradients(self, key: ProbeKey, variables: Sequence[Any]) -> GradientProbe:
        """Forward under a tape, then d(loss)/d(variable) for a fixed random projection loss.

        The forward pass is recorded as the call for ``key`` too, so asking for
        gradients first makes the later plain call free.
        """
        import numpy as np

        if key in self._gradients:
            return self._gradients[key]
        from hubcheck.tfimport import tensorflow

        tf = tensorflow()
        started = time.perf_counter()
        try:
            with tf.GradientTape() as tape:
                result = self._invoke(key, under_tape=True)
                if not isinstance(result, tf.Tensor):
                    raise TypeError(f"the call returned {_describe_structure(result)[1]}, not a tensor")
                weights = np.random.default_rng(7).normal(size=result.shape.as_list()).astype(np.float32)
                loss = tf.reduce_sum(tf.cast(result, tf.float32) * weights)
            grads = tape.gradient(loss, list(variables), unconnected_gradients=tf.UnconnectedGradients.NONE)
        except Exception as exc:
            probe = GradientProbe(key, one_line(exc))
        else:
            if key not in self._calls:
                self._calls[key] = dataclasses.replace(
                    self._record(key, result, time.perf_counter() - started), taped=True
                )
            reached, missed, zero = [], [], []
            for variable, grad in zip(variables, grads):
                if grad is None:
                    missed.append(variable.name)
                elif np.any(tf.convert_to_tensor(grad).numpy()):  # one variable's copy at a time
                    reached.append(variable.name)
                else:
                    zero.append(variable.name)
            probe = GradientProbe(key, None, tuple(reached), tuple(missed), tuple(zero))
        self._gradients[key] = probe
        return probe


def _sort_key(key: ProbeKey) -> tuple[Any, ...]:
    training_rank = {None: 0, False: 1, True: 2}[key.training]
    return (key.height, key.width, training_rank, key.batch, key.offset, key.repeat)


class ModelProbe:
    """The calls checks make, by batch, size and mode; owns the tape policy and the loaded model's probe.

    With gradients wanted (``gradient-flow`` selected and the model fine-tunable), every
    training-mode call runs under a tape, so TensorFlow uses one (taped) function
    instantiation for all of them instead of building two; and the first request for
    the gradient call records its forward pass under that tape, so it is paid once.
    """

    def __init__(self, session: Any, plan: Callable[[], Any], wants_gradients: Callable[[], bool]) -> None:
        self._session = session
        self._plan = plan
        self._wants_gradients = wants_gradients
        self._probe: Probe | None = None

    @property
    def used(self) -> bool:
        return self._probe is not None

    def _memo(self) -> Probe:
        if self._probe is None:
            from hubcheck.session import ModelUnavailable

            if not self._session.is_callable:
                raise ModelUnavailable("the root object has no traced __call__", "callable")
            self._probe = Probe(self._session.root, tape_training_calls=self._wants_gradients(),
                                skip_graph_optimizer=not self._session.swaps_implementations)
        return self._probe

    @property
    def calls(self) -> Sequence[ProbeCall]:
        """Every call made so far, in a stable order."""
        return self._probe.calls if self._probe is not None else []

    def images(self, key: ProbeKey) -> np.ndarray:
        return make_batch(key.batch, key.height, key.width, key.offset)

    def call(self, batch: int, size: tuple[int, int] | None = None, training: bool | None = None,
             repeat: int = 0, offset: int = 0) -> ProbeCall:
        key = self._plan().key(batch, size, training, repeat, offset)
        memo = self._memo()
        if key == self._plan().gradient_key and self._wants_gradients():
            self.gradients()  # the forward pass under the tape doubles as this call
        return memo.call(key)

    def call_each(self, requests: Sequence[tuple[int, tuple[int, int]]]) -> list[ProbeCall]:
        """The inference calls for ``(batch, size)`` requests; those not made yet run at the same time when
        the model's inference calls keep no state (see :meth:`Probe.make_at_once`)."""
        keys = [self._plan().key(batch, size) for batch, size in requests]
        memo = self._memo()
        gradient_key = self._plan().gradient_key if self._wants_gradients() else None
        if self._session.inference_keeps_no_state and gradient_key not in keys:  # a taped call goes alone
            memo.make_at_once(keys)
        return [self.call(batch, size) for batch, size in requests]

    def made(self, batch: int, size: tuple[int, int] | None = None, training: bool | None = None) -> ProbeCall | None:
        """The call for these arguments if a check made it already (never makes one)."""
        if self._probe is None:
            return None
        return self._probe.made(self._plan().key(batch, size, training))

    def tensor(self, batch: int, size: tuple[int, int] | None = None, training: bool | None = None,
               repeat: int = 0, offset: int = 0) -> np.ndarray:
        """The output array of a call that earlier checks established works; raise if it does not.

        A call at another batch than the plan's first call is blamed on ``batch-size``.
        """
        from hubcheck.session import ModelUnavailable

        result = self.call(batch, size, training, repeat, offset)
        if not result.ok:
            blamed = "output-single-tensor" if batch == self._plan().single_batch else "batch-size"
            raise ModelUnavailable(f"the call {result.key.describe()} raised {result.error}", blamed)
        if not result.is_tensor or result.value is None:
            raise ModelUnavailable(f"the call returned {result.structure}", "output-single-tensor")
        return result.value

    def gradients(self) -> GradientProbe:
        """Gradients of a fixed loss on the plan's training call, for every trainable variable."""
        return self._memo().gradients(self._plan().gradient_key, self._session.trainable_variables)
