"""Tensor descriptions shared by the reader, the loader, the probe and the checks: one type, one renderer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hubcheck.results import JSONValue


def render(dtype: str, shape: Sequence[int | None] | None) -> str:
    """``float32[?,224,224,3]``; ``float32[<any shape>]`` for an unknown rank. The one spelling of a tensor."""
    if shape is None:
        return f"{dtype}[<any shape>]"
    return f"{dtype}[{','.join('?' if dim is None else str(dim) for dim in shape)}]"


@dataclass(frozen=True)
class TensorInfo:
    dtype: str
    shape: tuple[int | None, ...] | None  # None: unknown rank

    def to_json(self) -> dict[str, JSONValue]:
        return {"dtype": self.dtype, "shape": None if self.shape is None else list(self.shape)}

    def describe(self) -> str:
        return render(self.dtype, self.shape)


def spec_info(spec: Any) -> TensorInfo | None:
    """A ``tf.TensorSpec``-like object as a :class:`TensorInfo`; None when it is not one tensor."""
    dtype = getattr(spec, "dtype", None)
    shape = getattr(spec, "shape", None)
    if dtype is None or shape is None or not hasattr(shape, "rank"):
        return None
    dims = None if shape.rank is None else tuple(None if d is None else int(d) for d in shape.as_list())
    return TensorInfo(getattr(dtype, "name", str(dtype)), dims)


__all__ = ["TensorInfo", "render", "spec_info"]
