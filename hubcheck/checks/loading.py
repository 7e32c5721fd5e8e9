"""Can the model be loaded, and is its root object callable?"""

from __future__ import annotations

from hubcheck.context import CheckContext, ModelUnavailable
from hubcheck.loader import ModelFormat
from hubcheck.registry import Check
from hubcheck.results import Finding, JSONValue

WRAP_HINT = (
    "Give the exported object a __call__: e.g. class Wrapper(tf.Module) with "
    "@tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)]) "
    "def __call__(self, images): ..., plus variables/trainable_variables attributes, "
    "and export it with tf.saved_model.save(); `hubcheck export MODEL OUT` writes such a wrapper around "
    "a serving signature and checks it (docs/export.md)."
)


class LoadCheck(Check):
    """The directory is a TF2 SavedModel that ``tf.saved_model.load`` accepts.

    Fails when the path is not a SavedModel directory (a Keras .h5/.keras file,
    a folder without saved_model.pb), is a deprecated TF1 Hub module
    (tfhub_module.pb), has a truncated or corrupt saved_model.pb, misses its
    variables/ data, or when tf.saved_model.load raises. Warns when it loads but
    is a TF1-style SavedModel with signatures and no TF2 object graph.

    Fix: export with TF2's tf.saved_model.save(obj, export_dir) and publish the
    whole directory (saved_model.pb and variables/). ``hubcheck export SOURCE OUT``
    does it for a Keras ``.keras``/``.h5`` file or a signature-only SavedModel
    and checks the result (docs/export.md).
    """

    id = "load"
    title = "Loads as a TF2 SavedModel"
    order = 10

    def run(self, ctx: CheckContext) -> Finding:
        source = ctx.model.source
        facts: dict[str, JSONValue] = {"format": source.format.value, "tags": list(source.tags),
                                       "load_path": source.load_path}
        if source.problem:
            return Finding.failed(source.problem, **facts)
        try:
            loaded = ctx.model.loaded()
        except ModelUnavailable as exc:
            if exc.blocked_by == "unsafe-ops":  # refused, not failed: the graph was not vetted
                return Finding.skipped(f"blocked by unsafe-ops: {exc}", blocked_by="unsafe-ops", **facts)
            return Finding.failed(f"{exc}", **facts)
        facts["load_seconds"] = round(loaded.load_seconds, 3)
        tags = f" (MetaGraph tags {list(source.tags)})" if source.tags != ("serve",) else ""
        if source.format is ModelFormat.TF1_SAVED_MODEL and source.has_object_graph:
            return Finding.warned(
                f"Loads, but through TensorFlow's TF1 loader: {source.load_path_reason}{tags}. That loader runs "
                "the saver and init ops and returns signatures only, so the TF2 object graph (__call__, variables, "
                "fine-tuning) is lost. Re-export with tf.saved_model.save() into a folder of its own, with "
                "one MetaGraph.",
                **facts,
            )
        if source.format is ModelFormat.TF1_SAVED_MODEL:
            exporter = f"TF {source.tensorflow_version}" if source.tensorflow_version else "TF1"
            return Finding.warned(
                f"Loads, but it is a TF1-style SavedModel exported by {exporter}{tags}: it has "
                "signatures only and no TF2 object graph, so there is no __call__, variables or "
                "fine-tuning. Re-export it from TF2 with tf.saved_model.save(), or wrap its serving signature "
                "with `hubcheck export MODEL OUT` (not fine-tunable).",
                **facts,
            )
        # No timing in the message: the same model checked twice gives the same report (timings in details).
        return Finding.passed(f"Loaded a TF2 SavedModel{tags}", **facts)


class CallableCheck(Check):
    """The root object has a ``__call__`` with at least one traced concrete function.

    Fails when ``obj(images)`` is impossible: the object has no ``__call__``
    (e.g. a TF1 export, or a Keras 3 ``model.export()`` that only has a
    ``serve`` endpoint and signatures) or ``__call__`` was never traced.

    Fix: save an object whose ``__call__`` is a tf.function traced for float32
    [batch, height, width, 3] images (a tf-keras model saved with
    tf.saved_model.save, or a tf.Module wrapper around the serving function).
    ``hubcheck export MODEL OUT [--signature NAME]`` writes that wrapper.
    """

    id = "callable"
    title = "Root object is callable"
    requires = ("load",)
    order = 20

    def run(self, ctx: CheckContext) -> Finding:
        root = ctx.model.root
        if ctx.model.is_callable:
            return Finding.passed(
                f"__call__ has {len(ctx.model.concrete_functions)} traced concrete function(s)",
                concrete_functions=len(ctx.model.concrete_functions),
            )
        endpoints = sorted(
            name
            for name in dir(root)
            if not name.startswith("_")
            and name not in ("signatures", "variables", "trainable_variables", "regularization_losses")
            and hasattr(getattr(root, name, None), "concrete_functions")
        )
        signatures = [sig.describe() for sig in ctx.model.source.signatures]
        found = []
        if endpoints:
            found.append(f"endpoints {', '.join(endpoints)}")
        if signatures:
            found.append(f"signatures {'; '.join(signatures)}")
        what = "; ".join(found) if found else "no endpoints and no signatures"
        reason = "has no __call__" if not callable(root) else "has a __call__ with no traced concrete function"
        hint = WRAP_HINT
        if "serve" in endpoints:
            hint = "This looks like a Keras 3 model.export(); " + WRAP_HINT[0].lower() + WRAP_HINT[1:]
        return Finding.failed(
            f"The root object {reason}, so obj(images) fails. Found {what}. {hint}",
            endpoints=endpoints,
            signatures=signatures,
        )
