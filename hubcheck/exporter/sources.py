"""Recognise what ``hubcheck export`` was given and load it as a :class:`Source`: one way to call it and its state.

Kinds (docs/export.md):

- ``keras3-file`` / ``keras3-model``: a Keras 3 ``.keras`` file or a live Keras 3 model (fine-tunable);
- ``tf-keras-file`` / ``tf-keras-model``: a tf-keras ``.h5``/``.keras`` file or a live tf-keras model;
- ``tf-keras-saved-model``: a SavedModel written by tf-keras (``keras_metadata.pb``), loaded with tf-keras;
- ``tf2-saved-model``: any other SavedModel whose root has a ``__call__`` (fine-tunable when it lists trainable
  variables);
- ``keras3-export``, ``tf1-signatures``, ``signatures``: a serving-only SavedModel (a Keras 3
  ``model.export()`` folder, a TF1 export, any other with signatures only): one signature becomes the call;
  never fine-tunable.

Keras 3 is imported here and only here, when a source needs it, so no other command pays for it.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubcheck.exporter.errors import ExportError, first_line
from hubcheck.tfimport import tensorflow

SERVING_ONLY_KINDS = frozenset({"keras3-export", "tf1-signatures", "signatures"})


@dataclass
class Source:
    """A loaded source: how to call it on (adapted) images and what it holds.

    ``call(images, training)`` returns the source's raw outputs (a tensor, a dict, a list); ``training`` is
    ``None`` for a source without a training mode. ``input_shape`` is ``(H, W, C)`` with ``None`` for a size
    the source leaves open. ``keep`` is an object the written model must track so that resources the call
    captures (variables, tables) are saved with it. ``keras_model`` is the live Keras model of a Keras source
    (whose layers :mod:`.rewrites` may adjust while the call is traced).
    """

    kind: str
    call: Callable[[Any, bool | None], Any]
    has_training: bool
    input_shape: tuple[int | None, int | None, int | None]
    input_dtype: Any
    variables: list[Any]
    trainable_variables: list[Any] = field(default_factory=list)
    regularization_losses: list[Callable[[], Any]] = field(default_factory=list)
    keep: Any = None
    notes: list[str] = field(default_factory=list)
    output_dtype: str | None = None  # the dtype of the picked output, learnt when the call is traced
    keras_model: Any = None

    @property
    def fine_tunable(self) -> bool:
        return self.kind not in SERVING_ONLY_KINDS and bool(self.trainable_variables)


def load_source(model: Any, *, signature: str | None = None, allow_unsafe_ops: bool = False) -> Source:
    """Recognise ``model`` (a path or a live Keras model) and load it; :class:`ExportError` when it is none of
    the kinds above or cannot be loaded, or when it is a SavedModel whose graph holds ops that may reach
    outside the process (the unsafe-ops allowlist) and ``allow_unsafe_ops`` is not given: export loads and
    calls the source in this process, so the gate of ``hubcheck MODEL`` applies before it does."""
    if isinstance(model, (str, os.PathLike)):
        path = Path(model).expanduser()
        if path.is_dir() and not allow_unsafe_ops:
            _refuse_unsafe(path)
        return _load_path(path, signature)
    flavour = keras_flavour(model)
    if signature is not None:
        raise ExportError("--signature applies to serving-only SavedModels, not to a live model")
    if flavour == "keras3":
        return keras3_source(model, "keras3-model")
    if flavour == "tf-keras":
        return tf_keras_source(model, "tf-keras-model")
    raise ExportError(f"cannot export a {type(model).__name__}: give a Keras 3 or tf-keras model, or a path")


def keras_flavour(model: Any) -> str | None:
    """"keras3" or "tf-keras" for an object whose class is, or derives from, a class of that Keras (a
    subclassed model is defined in the user's own module); ``None`` for anything else."""
    for cls in type(model).__mro__:
        package = cls.__module__.split(".")[0]
        if package == "keras":
            return "keras3"
        if package == "tf_keras":
            return "tf-keras"
    return None


def _load_path(path: Path, signature: str | None) -> Source:
    if not path.exists():
        raise ExportError(f"{path}: no such file or folder")
    if path.is_file():
        if signature is not None:
            raise ExportError("--signature applies to serving-only SavedModels, not to a Keras file")
        suffix = path.suffix.lower()
        if suffix == ".keras":
            if _keras_file_version(path).startswith("3"):
                return keras3_source(_load_keras3(path), "keras3-file")
            return tf_keras_source(_load_tf_keras(path), "tf-keras-file")
        if suffix in (".h5", ".hdf5"):
            return tf_keras_source(_load_tf_keras(path), "tf-keras-file")
        raise ExportError(f"{path}: unknown kind of source; give a .keras or .h5 file or a SavedModel folder")
    if not (path / "saved_model.pb").is_file() and not (path / "saved_model.pbtxt").is_file():
        raise ExportError(f"{path}: not a SavedModel folder (no saved_model.pb)")
    if (path / "keras_metadata.pb").is_file() and signature is None:
        try:
            return tf_keras_source(_load_tf_keras(path), "tf-keras-saved-model")
        except ExportError:
            pass  # a SavedModel tf-keras cannot rebuild: take it as the SavedModel it also is
    return saved_model_source(path, signature)


def _refuse_unsafe(path: Path) -> None:
    from hubcheck.graph.unsafe import scan_path

    try:
        scan = scan_path(path)
    except Exception as exc:  # a graph the gate cannot read is not loaded here: when in doubt, refuse
        raise ExportError(f"{path}: its graph could not be scanned for ops that reach outside the process "
                          f"({first_line(exc)}); `hubcheck SOURCE` says why, and --allow-unsafe-ops exports it "
                          "unscanned if you trust it") from None
    if scan is not None and scan.unsafe:
        raise ExportError(f"{path}: its graph holds ops that may reach outside the process ({scan.summary(3)}); "
                          "export would load and call it here. Read `hubcheck SOURCE`'s unsafe-ops finding, then "
                          "give --allow-unsafe-ops if you trust it")


def _keras_file_version(path: Path) -> str:
    """The Keras version that wrote a ``.keras`` zip (``metadata.json``); "" when it does not say."""
    try:
        with zipfile.ZipFile(path) as archive:
            return str(json.loads(archive.read("metadata.json")).get("keras_version", ""))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ExportError(f"{path}: not a readable .keras file ({exc})") from None


def keras3() -> Any:
    """Keras 3 on its TensorFlow backend (the written model is a TensorFlow program)."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    tensorflow()
    import keras

    if keras.backend.backend() != "tensorflow":
        raise ExportError(f"Keras 3 runs on its {keras.backend.backend()} backend here; export needs "
                          "KERAS_BACKEND=tensorflow")
    return keras


def _load_keras3(path: Path) -> Any:
    keras = keras3()
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # a stranger's file: any failure is "cannot load", said plainly
        raise ExportError(f"{path}: Keras 3 cannot load it: {_custom_class_hint(exc) or first_line(exc)}") from None


def _custom_class_hint(error: BaseException) -> str | None:
    """What to do when the file names a class only its author's code defines (a subclassed model, a custom
    layer); Keras's own message goes on to print the whole config."""
    match = re.search(r"Could not locate (?:class|function) '([^']+)'|Unknown [a-z ]+: '?(\w+)'?", str(error))
    if match is None:
        return None
    return (f"it needs {match.group(1) or match.group(2)!r}, a custom class or function that is not imported here (a subclassed "
            "model or a custom layer). Export the live model from Python, where that code is imported: "
            "hubcheck.export(model, OUT, ...)")


def _load_tf_keras(path: Path) -> Any:
    tensorflow()
    import tf_keras

    from tf_keras.src.saving.serialization_lib import SafeModeScope

    try:
        # load_model's safe_mode covers the .keras format only: an HDF5 file or a SavedModel would rebuild a
        # Lambda layer's marshalled Python code and run it here, unless the scope says safe mode.
        with SafeModeScope(True):
            return tf_keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:
        hint = _custom_class_hint(exc) or _lambda_hint(exc)
        raise ExportError(f"{path}: tf-keras cannot load it: {hint or first_line(exc)}") from None


def _lambda_hint(error: BaseException) -> str | None:
    if "Lambda layer with a Python `lambda`" not in str(error):
        return None
    return ("it has a Lambda layer holding Python code, which export never runs from a file. If you trust the "
            "file, load it yourself (tf_keras.models.load_model(path, safe_mode=False)) and export the live "
            "model from Python: hubcheck.export(model, OUT, ...)")


def _keras_input(model: Any) -> tuple[tuple[int | None, int | None, int | None], Any]:
    """The single image input of a Keras model: its (H, W, C) and dtype."""
    inputs = getattr(model, "inputs", None)
    if not inputs:
        return _called_input(model), tensorflow().float32
    if len(inputs) != 1:
        raise ExportError(f"the model takes {len(inputs)} inputs; an image model takes one image batch")
    return _image_shape(tuple(inputs[0].shape), "the model's input"), inputs[0].dtype


def _called_input(model: Any) -> tuple[int | None, int | None, int | None]:
    """The (None, None, C) input of a subclassed model, which has no ``inputs``: C is read from the shape of
    the call that built it (tf-keras keeps its spec, Keras 3 its build shape). Height and width are left
    open, since that call fixes nothing; ``--input-size`` fixes them."""
    shapes: list[Any] = []
    save_spec = getattr(model, "save_spec", None)
    if callable(save_spec):  # tf-keras
        spec = save_spec(dynamic_batch=True)
        if spec is not None:
            shapes = [getattr(arg, "shape", None) for arg in spec[0]]
    else:  # Keras 3
        shapes = list((getattr(model, "_build_shapes_dict", None) or {}).values())
    if len(shapes) != 1 or shapes[0] is None:
        raise ExportError("the model has no defined inputs (a subclassed model never called?); call it once on "
                          "an image batch, or build it on an Input, first")
    _, _, channels = _image_shape(tuple(shapes[0]), "the input the model was built for")
    return None, None, channels


def _image_shape(shape: Sequence[Any], what: str) -> tuple[int | None, int | None, int | None]:
    if len(shape) != 4:
        raise ExportError(f"{what} has shape {list(shape)}: an image model takes [batch, height, width, channels]")
    height, width, channels = (None if d is None else int(d) for d in shape[1:])
    if height in (1, 3) and channels not in (1, 3):
        raise ExportError(f"{what} has shape {list(shape)}: channels first; an image model takes channels last, "
                          "[batch, height, width, channels]")
    return height, width, channels


def keras3_source(model: Any, kind: str) -> Source:
    keras3()
    # Keras 3 variables wrap a tf.Variable (.value): those are what a SavedModel tracks and restores.
    return _keras_model_source(
        model, kind,
        variables=[variable.value for variable in model.variables],
        trainable_variables=[variable.value for variable in model.trainable_variables],
        losses=[_regularizer_loss(variable.regularizer, variable)
                for variable in model.trainable_weights if getattr(variable, "regularizer", None) is not None],
    )


def _regularizer_loss(regularizer: Any, variable: Any) -> Callable[[], Any]:
    return lambda: regularizer(variable)


def tf_keras_source(model: Any, kind: str) -> Source:
    return _keras_model_source(
        model, kind,
        variables=list(model.variables),
        trainable_variables=list(model.trainable_variables),
        # Weight regularizers are kept by each tf-keras layer as zero-argument callables.
        losses=[loss for layer in model._flatten_layers() for loss in layer._callable_losses],
        # Not every resource a tf-keras call captures is among its variables (the state of the random
        # generator of an augmentation layer, say): tracking the model saves them all.
        keep=model,
    )


def _keras_model_source(model: Any, kind: str, *, variables: list[Any], trainable_variables: list[Any],
                        losses: list[Callable[[], Any]], keep: Any = None) -> Source:
    """A Keras model (either Keras) called as ``model(images, training=...)``."""
    shape, dtype = _keras_input(model)
    notes = []
    # An activity regularizer's loss depends on the input: it cannot be a zero-argument loss.
    if any(getattr(layer, "activity_regularizer", None) is not None for layer in model._flatten_layers()):
        notes.append("activity regularizers depend on the input and are not among regularization_losses")
    return Source(
        kind=kind,
        call=lambda images, training: model(images, training=training),
        has_training=True,
        input_shape=shape,
        input_dtype=tensorflow().as_dtype(dtype),
        variables=variables,
        trainable_variables=trainable_variables,
        regularization_losses=losses,
        keep=keep,
        notes=notes,
        keras_model=model,
    )


def saved_model_source(path: Path, signature: str | None) -> Source:
    tf = tensorflow()
    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as exc:
        raise ExportError(f"{path}: TensorFlow cannot load it: {first_line(exc)}") from None
    call = getattr(loaded, "__call__", None)
    traces = list(getattr(call, "concrete_functions", None) or [])
    if traces and signature is None:
        return _callable_source(loaded, traces)
    return _signature_source(loaded, signature)


def _callable_source(loaded: Any, traces: list[Any]) -> Source:
    """A TF2 SavedModel with a traced ``__call__``: called as it is, its state as it lists it."""
    images, training_values = [], set()
    for trace in traces:
        args, kwargs = trace.structured_input_signature
        first = args[0] if args else None
        if first is not None and hasattr(first, "shape"):
            images.append(first)
        value = kwargs.get("training", args[1] if len(args) > 1 else None)
        if isinstance(value, bool):
            training_values.add(value)
    if not images:
        raise ExportError("the root's __call__ takes no image tensor as its first argument")
    known = [spec for spec in images if spec.shape.rank is not None]
    if not known:
        raise ExportError("the root's __call__ was traced for an image tensor of unknown rank")
    spec = min(known, key=lambda spec: sum(d is not None for d in spec.shape.as_list()))  # the most general trace
    has_training = training_values == {True, False}
    variables, trainable, notes = _listed_state(loaded, traces)
    return Source(
        kind="tf2-saved-model",
        call=(lambda x, training: loaded(x, training=training)) if has_training else (lambda x, _: loaded(x)),
        has_training=has_training,
        input_shape=_image_shape(spec.shape.as_list(), "the root's __call__ input"),
        input_dtype=spec.dtype,
        variables=variables,
        trainable_variables=trainable,
        regularization_losses=list(getattr(loaded, "regularization_losses", [])),
        keep=loaded,
        notes=notes,
    )


def _listed_state(loaded: Any, traces: list[Any]) -> tuple[list[Any], list[Any], list[str]]:
    """The variables and trainable variables of a TF2 SavedModel root, and a note when they were not listed.

    A root that follows the Reusable SavedModel API lists them (``variables``, and ``trainable_variables``
    when fine-tunable: a root with ``variables`` and no ``trainable_variables`` is published not
    fine-tunable, and stays so). A plain ``tf.Module`` saved as it is lists neither, since its properties
    are not saved; its ``__call__`` still captures its variables, each restored with its own ``trainable``
    flag, so those are its state.
    """
    listed = getattr(loaded, "variables", None)
    if listed is not None:
        return list(listed), list(getattr(loaded, "trainable_variables", None) or []), []
    captured = list({variable.ref(): variable for trace in traces for variable in trace.variables}.values())
    trainable = [variable for variable in captured if variable.trainable]
    if not captured:
        return [], [], []
    return captured, trainable, [f"the root lists no variables: the export lists the {len(captured)} its __call__ "
                                 f"uses, {len(trainable)} of them trainable (as each was saved)"]


def _signature_source(loaded: Any, signature: str | None) -> Source:
    """A serving-only SavedModel: the chosen signature, with its single image input, becomes the call."""
    tf = tensorflow()
    names = sorted(getattr(loaded, "signatures", {}) or {})
    if not names:
        raise ExportError("the SavedModel has neither a __call__ nor signatures: nothing to call")
    if signature is None:
        if "serving_default" in names:
            signature = "serving_default"
        elif len(names) == 1:
            signature = names[0]
        else:
            raise ExportError(f"the SavedModel has {len(names)} signatures ({', '.join(names)}); pick one with "
                              "--signature NAME")
    elif signature not in names:
        raise ExportError(f"--signature {signature}: no such signature; the SavedModel has {', '.join(names)}")
    function = loaded.signatures[signature]
    _, inputs = function.structured_input_signature
    if len(inputs) != 1:
        images = [name for name, spec in inputs.items() if spec.shape.rank == 4]
        raise ExportError(f"signature {signature} takes {len(inputs)} inputs ({', '.join(sorted(inputs))}), "
                          f"{len(images)} of them image batches; an image model takes exactly one")
    (name, spec), = inputs.items()
    notes = [f"serving-only source (signature {signature}): the export is not fine-tunable"]
    call: Callable[[Any, bool | None], Any] = lambda images, _: dict(sorted(function(**{name: images}).items()))
    if hasattr(loaded, "prune") and hasattr(loaded, "graph"):
        kind = "tf1-signatures"
        frozen = _frozen_tf1(function)
        if frozen is not None:
            call = frozen
            notes.append("the TF1 graph's variables are frozen into constants")
    elif hasattr(loaded, "serve"):
        kind = "keras3-export"
    else:
        kind = "signatures"
    variables = [v for v in getattr(loaded, "variables", []) or [] if isinstance(v, tf.Variable)]
    return Source(
        kind=kind,
        call=call,
        has_training=False,
        input_shape=_image_shape(spec.shape.as_list() if spec.shape.rank is not None else [None], f"signature "
                                 f"{signature}'s input {name}"),
        input_dtype=spec.dtype,
        variables=variables,
        keep=loaded,
        notes=notes,
    )


def _frozen_tf1(function: Any) -> Callable[[Any, bool | None], Any] | None:
    """A TF1 signature with its variables folded into constants, returning the same sorted dict; ``None``
    when it cannot be frozen (tables, say): then it is called as it is.

    TF1 graphs keep reference variables that tf.saved_model.save does not write; a serving-only export
    never trains them, so constants lose nothing and the written model needs no TF1 state.
    """
    tensorflow()
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    try:
        frozen = convert_variables_to_constants_v2(function)
    except Exception:  # a graph the converter cannot fold; the call as it is may still work
        return None
    names = sorted(function.structured_outputs)

    def call(images: Any, _: bool | None) -> Any:
        return dict(zip(names, frozen(images)))

    return call
