"""What a check sees: the plugin API.

A check's ``run(ctx)`` gets a :class:`CheckContext` with five things:

- ``ctx.options``: the run's :class:`~hubcheck.options.RunOptions` (tolerances, task, selection);
- ``ctx.model``: the :class:`~hubcheck.session.ModelSession`: ``source`` (what the files are,
  never loading), ``program`` and ``scan`` (the graph, read as data), ``root`` (the loaded object,
  loaded once, behind the unsafe-op gate), ``traces``, ``trainable_variables``, ``fine_tunable``;
- ``ctx.plan``: the :class:`~hubcheck.plan.ProbePlan`: input sizes and why, batch sizes, the
  training call's key;
- ``ctx.probe``: the :class:`~hubcheck.probe.ModelProbe`: ``call(batch, size, training, repeat)``,
  ``tensor(...)`` and ``gradients()``, memoized so that no two checks pay for the same forward pass;
- ``ctx.result(id)``: the result of a check this one names in ``requires`` or ``uses``;
  plus ``ctx.task``: the task the model is checked for, and why.

A check never prints, never loads the model itself, and raises
:class:`ModelUnavailable` (or lets the context raise it) when what it needs
could not be had; the runner turns that into ``skip`` naming the blocker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hubcheck.options import RunOptions, Task
from hubcheck.plan import FULL_BATCH, SMALL_BATCH
from hubcheck.results import CheckResult
from hubcheck.session import ModelSession, ModelUnavailable

if TYPE_CHECKING:
    from hubcheck.engine import Engine
    from hubcheck.plan import ProbePlan
    from hubcheck.probe import ModelProbe


class CheckContext:
    """One check's view of the run (see the module docstring)."""

    def __init__(self, engine: Engine, check_id: str, declared: tuple[str, ...]) -> None:
        self._engine = engine
        self._check_id = check_id
        self._declared = declared

    @property
    def options(self) -> RunOptions:
        return self._engine.options

    @property
    def model(self) -> ModelSession:
        return self._engine.session

    @property
    def plan(self) -> ProbePlan:
        return self._engine.plan

    @property
    def probe(self) -> ModelProbe:
        return self._engine.probe

    @property
    def task(self) -> tuple[Task, str]:
        return self._engine.task

    def result(self, check_id: str) -> CheckResult | None:
        """The result of ``check_id`` (None if it did not run); only for checks named in ``requires`` or ``uses``."""
        if check_id not in self._declared:
            raise LookupError(f"{self._check_id} reads the result of {check_id} without naming it in requires or uses")
        return self._engine.results.get(check_id)


__all__ = ["FULL_BATCH", "SMALL_BATCH", "CheckContext", "ModelUnavailable"]
