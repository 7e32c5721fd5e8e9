"""Checks that read the graph and never run it: unsafe ops (before anything loads) and the input range."""

from __future__ import annotations

from hubcheck.context import CheckContext
from hubcheck.loader import ModelFormat
from hubcheck.registry import Check
from hubcheck.results import Finding, JSONValue


class UnsafeOpsCheck(Check):
    """Nothing in the graph can reach outside the process; runs first, before anything is loaded.

    Reads saved_model.pb with TensorFlow's protos (no tf.saved_model.load, nothing
    executed) and judges every node of every MetaGraph: each function of the
    library and each node of the main graph, reachable or not, because TensorFlow
    loads the whole library, swaps functions by ``api_implements`` and, on its TF1
    load path, runs the saver and init ops. Every op type must be on hubcheck's
    allowlist of the ops this TensorFlow registers (hubcheck/graph/oppolicy.py).
    Fails for file reads and writes, checkpoint ops outside the model's own saver,
    summary and debug writers, ``Print``/``PrintV2``, Python function ops, tf.data
    pipelines (which run graphs stored as data), programs stored as data
    (``XlaCallModule``), network and distributed ops, process-level ops, attributes
    that name a file (``vocab_file``, ``filename``...), ops this TensorFlow does not
    register (custom ops) and registered ops hubcheck has not reviewed. Allowed after
    their arguments are checked: the saver's checkpoint ops when their file name comes
    from the saver's filename tensor, and a vocabulary table filled from a regular file
    inside the model's own assets/. When it fails, hubcheck neither loads nor calls
    the model: every check that would is skipped, naming ``unsafe-ops``. Warns when a
    file that loading opens (variables, assets, fingerprint, debug info) resolves
    outside the model folder through a symlink (fails with ``--strict``).

    Fix: remove the op from the exported functions (write files, logs and
    checkpoints outside the model; ship vocabularies as assets). To check a model
    you trust anyway, read the finding and rerun with ``--allow-unsafe-ops``.

    Limits: the verdict is per op type and, for the conditional ops, per file-name
    argument; an allowed op can still use much memory or time (bounded by the
    checking process's limits, not by this check). Keras ``.h5``/``.keras`` files are
    not scanned (hubcheck never loads them). See docs/security.md.
    """

    id = "unsafe-ops"
    title = "No ops that reach outside the process"
    order = 5

    def run(self, ctx: CheckContext) -> Finding:
        from hubcheck.graph.unsafe import family_description, tensorflow_denylist

        source = ctx.model.source
        if source.format in (ModelFormat.KERAS_FILE, ModelFormat.NOT_A_SAVED_MODEL):
            return Finding.skipped(f"not applicable: no SavedModel graph to scan ({source.format.value})")
        if source.format is ModelFormat.UNREADABLE:
            return Finding.skipped("not applicable: saved_model.pb cannot be read or parsed, so there is no graph to "
                                   "scan (load says why)")
        scan = ctx.model.scan
        if scan is None:
            return Finding.skipped("not applicable: no SavedModel graph to scan")
        details: dict[str, JSONValue] = {
            **scan.to_json(),
            "tensorflow_denylist": sorted(tensorflow_denylist()),
            "allow_unsafe_ops": ctx.options.allow_unsafe_ops,
        }
        scanned = (
            f"{scan.functions_scanned} function(s) and {scan.nodes_scanned} node(s) in {scan.meta_graphs} MetaGraph(s)"
        )
        if scan.unsafe:
            consequence = (
                "--allow-unsafe-ops was given, so hubcheck loads and calls the model anyway."
                if ctx.options.allow_unsafe_ops
                else "hubcheck did not load or call the model; after reading this, rerun with --allow-unsafe-ops "
                "to check it anyway."
            )
            return Finding.failed(
                f"{len(scan.findings)} unsafe op(s) "
                f"({'; '.join(f'{f}: {family_description(f)}' for f in scan.families())}): "
                f"{scan.summary(3)}. {consequence}",
                **details,
            )
        notes = []
        if scan.allowed:
            conditions = sorted({finding.condition or finding.op for finding in scan.allowed})
            notes.append(f"allowed after checking their arguments: {len(scan.allowed)} op(s) ({'; '.join(conditions)})")
        note = f"; {'; '.join(notes)}" if notes else ""
        if scan.outside_files:
            names = ", ".join(f"{item['name']} -> {item['resolved']}" for item in scan.outside_files[:5])
            more = f" and {len(scan.outside_files) - 5} more" if len(scan.outside_files) > 5 else ""
            return Finding.warned(
                f"No unsafe op in {scanned}{note}; but {len(scan.outside_files)} file(s) that loading opens resolve "
                f"outside the model folder: {names}{more}. Publish the files themselves (symlinks into a DVC or "
                "git-annex cache are fine where you control the cache).",
                **details,
            )
        return Finding.passed(f"No unsafe op in {scanned}{note}", **details)


class InputRangeCheck(Check):
    """Read from the graph: ``__call__`` expects images in [0, 1], not [0, 255].

    Follows the image from each inference-mode ``__call__`` trace through nested
    calls to the first op that is not an element-wise affine step, folding the
    constants it meets (``Mul``, ``RealDiv``, ``Sub``, ``AddV2``, ``Cast``, Keras
    ``Rescaling`` and ``Normalization``, an inference batch norm) into
    ``scale * x + offset``. Fails when that transform is made for [0, 255] input:
    ``x / 255``, ``x / 127.5 - 1``, ``x * (1/255)``, an ImageNet mean/std on the
    0-255 scale. Passes for [0, 1] forms (``2x - 1``, an ImageNet mean/std on the
    0-1 scale, or no rescaling at all). Warns, with the reason, when the graph does
    not settle it (the image path branches, a scale is computed from the image).
    Never loads the model.

    Fix: make the published ``__call__`` take [0, 1] images: drop the /255
    rescaling, or multiply the images by 255 at the start of ``__call__`` if the
    network was trained on [0, 255]; ``hubcheck export MODEL OUT --input-range 0,255``
    writes that wrapper.

    Limits: the graph shows only the rescaling it contains. A network trained on
    raw 0-255 pixels with no rescaling in the graph passes ("no rescaling"), as
    nothing in the graph says otherwise. Ops that keep the value range (cast to a
    float type, reshape, slice, pad, resize, pooling) are followed and listed;
    data-dependent normalisation, control flow or a branching image path before
    the first layer give ``warn``. Applies to TF2 SavedModels with a traced
    ``__call__``; TF1 formats are skipped (``hubcheck inspect`` analyses their
    signatures). See docs/graph-checks.md.
    """

    id = "input-range"
    title = "Expects images in [0, 1] (read from the graph)"
    order = 25

    def run(self, ctx: CheckContext) -> Finding:
        from hubcheck.graph.input_range import analyze_call

        source = ctx.model.source
        if source.format is not ModelFormat.TF2_SAVED_MODEL or not source.has_object_graph:
            return Finding.skipped(
                f"not applicable: a {source.format.value} has no object graph and no __call__ to read"
            )
        program = ctx.model.program
        if program is None or program.call_function is None or not program.traces:
            return Finding.skipped("not applicable: the root object has no traced __call__ to read")
        if not any(trace.image and trace.image.dtype == "float32" for trace in program.traces):
            return Finding.skipped(
                "not applicable: no __call__ trace takes one float32 image tensor (input-dtype judges the input)"
            )
        analyses = analyze_call(program)
        details: dict[str, JSONValue] = {"analyses": [analysis.to_json() for analysis in analyses]}
        distinct = {(a.formula(), a.expects, a.reason): a for a in analyses}
        expects = {a.expects for a in analyses}
        details["expects"] = sorted(expects)
        for analysis in distinct.values():
            if analysis.expects == "0-255":
                first = next((step for step in analysis.steps if step.folded), None)
                where = f" starting at {first.op} {first.node!r} in {first.function}" if first else ""
                return Finding.failed(
                    f"{analysis.entry} rescales its input as {analysis.formula()}{where}: {analysis.reason}, "
                    "so it expects [0, 255] pixels. The API's input is [0, 1]; drop the /255 rescaling or multiply "
                    "the images by 255 at the start of __call__.",
                    **details,
                )
        for analysis in distinct.values():
            if analysis.expects == "unclear":
                return Finding.warned(
                    f"The graph does not settle the input range of {analysis.entry}: {analysis.reason}. "
                    "Make sure the model expects [0, 1] images.",
                    **details,
                )
        shown = next(iter(distinct.values()))
        if shown.folded:
            return Finding.passed(f"Made for [0, 1] images: {shown.formula()}, {shown.reason}", **details)
        return Finding.passed(
            f"Nothing in the graph expects [0, 255]: {shown.reason.split(':')[0]} (the graph cannot show "
            "which range training used)",
            **details,
        )
