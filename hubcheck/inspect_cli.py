"""``hubcheck inspect MODEL``: what the graph says, read without loading or calling the model.

Prints the format, the MetaGraph tags, the ``__call__`` traces (which concrete
functions were traced, with their input specs, ``training`` values and extra
keyword arguments), the signatures, the variables, an op histogram, the unsafe
ops and the input-range analysis. ``--format json`` prints the same as one JSON
document. Exit code 0 whatever the model holds; 2 for a usage error; 3 if
hubcheck itself fails (:class:`hubcheck.exitcodes.Crash`; the command group decides the code).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

HISTOGRAM_SHOWN = 15


def _tensor(value: Any) -> str:
    from hubcheck.graph.describe import describe_tensor

    return describe_tensor(value) if isinstance(value, dict) else str(value)


def _trace_line(trace: dict[str, Any]) -> str:
    parts = [_tensor(trace["input"]) if trace.get("input") else trace.get("first_argument", "?")]
    if trace.get("training") is not None:
        parts.append(f"training={trace['training']}")
    parts += [f"{key}={value}" for key, value in (trace.get("extra_kwargs") or {}).items()]
    return ", ".join(parts)


def _range_lines(analysis: dict[str, Any]) -> list[str]:
    verdict = {"0-1": "expects [0, 1]", "0-255": "expects [0, 255]"}.get(analysis["expects"], "unclear")
    lines = [f"  {analysis['entry']}: {verdict}: {analysis['transform']} ({analysis['reason']})"]
    steps = [f"{s['op']} {s['node']!r} ({s['effect']})" for s in analysis.get("steps", [])]
    if steps:
        lines.append(f"      steps: {'; '.join(steps)}")
    stop = analysis.get("stop") or {}
    if stop.get("op"):
        lines.append(f"      stops at {stop['op']} {stop.get('node')!r} in {stop.get('function')}")
    elif stop.get("reason"):
        lines.append(f"      stops: {stop['reason']}")
    return lines


def render_text(info: dict[str, Any]) -> str:
    out = [str(info["path"])]
    exporter = f", exported by TensorFlow {info['exported_by_tensorflow']}" if info.get("exported_by_tensorflow") else ""
    out.append(f"  format:      {info['format_name']} [{info['format']}]{exporter}")
    if info.get("meta_graphs") is not None:
        tags = ", ".join("[" + ", ".join(tags) + "]" for tags in info["meta_graphs"])
        out.append(f"  MetaGraphs:  {tags}; read: [{', '.join(info.get('tags', []))}]")
    if info.get("problem"):
        out.append(f"  problem:     {info['problem']}")
    if info.get("note"):
        out.append(f"  note:        {info['note']}")
        return "\n".join(out) + "\n"

    call = info.get("call")
    out.append("")
    if call is None:
        out.append("__call__: none (the root object has no __call__; obj(images) fails)")
    else:
        names = ", ".join(call["argument_names"]) or "?"
        traces = call["traces"]
        out.append(f"__call__({names}): {len(traces)} traced concrete function(s)")
        for trace in traces:
            out.append(f"  {trace['function']}: {_trace_line(trace)}")
        if not traces:
            out.append("  (never traced: obj(images) fails)")
    if info.get("endpoints"):
        listed = ", ".join(f"{name} ({count} trace(s))" for name, count in info["endpoints"].items())
        out.append(f"other functions on the root: {listed}")

    out.append("")
    signatures = info.get("signatures") or {}
    out.append(f"signatures: {len(signatures) or 'none'}")
    for name, signature in signatures.items():
        ins = ", ".join(f"{k}: {_tensor(v)}" for k, v in signature["inputs"].items())
        outs = ", ".join(f"{k}: {_tensor(v)}" for k, v in signature["outputs"].items())
        out.append(f"  {name}({ins}) -> {{{outs}}}")

    variables = info["variables"]
    unknown = f", {variables['unknown_size']} of unknown size" if variables.get("unknown_size") else ""
    out.append("")
    out.append(
        f"variables: {variables['count']} ({variables['trainable']} trainable), "
        f"{variables['bytes']:,} bytes{unknown} [from the {variables['source']}]"
    )

    ops = info["ops"]
    histogram = list(ops["histogram"].items())
    shown = ", ".join(f"{op} {count}" for op, count in histogram[:HISTOGRAM_SHOWN])
    more = f", ... ({len(histogram) - HISTOGRAM_SHOWN} more)" if len(histogram) > HISTOGRAM_SHOWN else ""
    out.append(f"ops: {ops['distinct']} distinct in {ops['nodes']} nodes, {ops['functions']} functions: {shown}{more}")

    unsafe = info["unsafe"]
    out.append("")
    scanned = f"scanned {unsafe['functions_scanned']} functions, {unsafe['nodes_scanned']} nodes"
    if unsafe["unsafe_ops"]:
        out.append(f"unsafe ops: {len(unsafe['unsafe_ops'])} ({', '.join(unsafe['families'])}; {scanned})")
        for item in unsafe["unsafe_ops"]:
            detail = f" ({item['detail']})" if item.get("detail") else ""
            out.append(f"  {item['op']}{detail} [{item['family']}] node {item['node']!r} in {item['function']}")
            out.append(f"      reached from {' -> '.join(item['path'])}")
    else:
        out.append(f"unsafe ops: none ({scanned})")
    for item in unsafe.get("allowed", []):
        out.append(f"  allowed at load time: {item['op']} in {item['function']}")
    for item in unsafe.get("unreachable", []):
        out.append(f"  not reached from any entry point (not counted): {item['op']} node {item['node']!r} "
                   f"in {item['function']}")

    ranges = info["input_range"]
    out.append("")
    analyses = ranges["call"] or ranges["signatures"]
    source = "__call__" if ranges["call"] else "signatures"
    out.append(f"input range (read from the graph, {source}):" if analyses else "input range: nothing to read")
    for analysis in analyses:
        out += _range_lines(analysis)
    return "\n".join(out) + "\n"


@click.command("inspect")
@click.argument("model", type=click.Path(exists=True, path_type=Path))
@click.option("--format", "format_", type=click.Choice(["text", "json"]), default="text", show_default=True)
def inspect_command(model: Path, format_: str) -> None:
    """Print what the graph of MODEL says, without loading or running it.

    Format, MetaGraph tags, the __call__ traces (input specs, training values,
    extra keyword arguments), signatures, variables, an op histogram, unsafe
    ops and the input-range analysis.
    """
    from hubcheck.graph.describe import describe_model
    from hubcheck.results import json_clean
    from hubcheck.tfimport import native_logs_silenced

    try:
        with native_logs_silenced():
            info = describe_model(model)
    except Exception as exc:  # noqa: BLE001 - a crash here is hubcheck's bug, not the model's verdict
        from hubcheck.exitcodes import Crash
        from hubcheck.results import one_line

        raise Crash(f"hubcheck inspect: internal error: {one_line(exc)}") from exc
    if format_ == "json":
        click.echo(json.dumps(json_clean(info), indent=2))
    else:
        click.echo(render_text(info), nl=False)
