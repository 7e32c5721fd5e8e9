"""The report's ``model`` section: whatever a run learned about the model, never raising on the way."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hubcheck.loader import ModelFormat
from hubcheck.options import Task
from hubcheck.results import JSONValue
from hubcheck.tensors import render

if TYPE_CHECKING:
    from hubcheck.engine import Engine


def model_facts(engine: Engine) -> dict[str, JSONValue]:
    session = engine.session
    source = session.source
    facts: dict[str, JSONValue] = {
        "path": str(session.path),
        "format": source.format.value,
        "tags": list(source.tags),
        "meta_graphs": [list(tags) for tags in source.meta_graph_tags],
        "exported_by_tensorflow": source.tensorflow_version,
        "signatures": {sig.name: sig.to_json() for sig in source.signatures},
    }
    if engine.options.documentation is not None:
        facts["documentation"] = engine.options.documentation.to_json()
    loaded = session.loaded_model
    if loaded is None:
        return facts
    root = loaded.root
    facts["load_seconds"] = round(loaded.load_seconds, 3)
    facts["num_variables"] = len(list(getattr(root, "variables", None) or []))
    facts["num_trainable_variables"] = len(session.trainable_variables)
    facts["call_argument_names"] = session.call_argument_names
    facts["call_traces"] = [_trace_json(trace.to_json()) for trace in session.traces]
    facts["training_values_traced"] = session.training_values_traced
    if source.format is not ModelFormat.TF2_SAVED_MODEL or not session.concrete_functions:
        return facts
    plan = engine.plan
    facts["input_sizes"] = [list(size) for size in plan.input_sizes]
    facts["input_sizes_source"] = plan.input_sizes_source
    facts["batch_sizes"] = plan.batch_sizes
    facts["batch_sizes_source"] = plan.batch_sizes_source
    if "task" in engine.__dict__ or engine.options.task is not Task.AUTO:
        task, reason = engine.task
        facts["task"], facts["task_reason"] = task.value, reason
    facts["output_width"] = _output_width(engine)
    if engine.probe.used:
        facts["calls"] = [
            {
                "input": call.key.describe(),
                "seconds": round(call.seconds, 4),
                "result": call.error if call.error else (
                    render(call.dtype or "?", call.shape or ()) if call.is_tensor else call.structure
                ),
            }
            for call in engine.probe.calls
        ]
    return facts


def _trace_json(trace: dict[str, JSONValue]) -> dict[str, JSONValue]:
    """A trace as the report has always shown it: without the reader's function name."""
    return {key: value for key, value in trace.items() if key != "function"}


def _output_width(engine: Engine) -> int | None:
    if not engine.probe.used:
        return None
    widths = {
        call.value.shape[1]
        for call in engine.probe.calls
        if call.is_tensor and call.value is not None and call.value.ndim == 2
    }
    return widths.pop() if len(widths) == 1 else None


__all__ = ["model_facts"]
