"""One run's shared state, and the view each check gets of it.

:class:`Engine` holds the model session, the probe plan (built when first
needed, from the traces), the probe, the task and the results so far. The
runner asks it for a :class:`~hubcheck.context.CheckContext` per check, which
shows that check the results of exactly the checks it names in ``requires`` and
``uses``, and for the report's model facts at the end.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from hubcheck.options import RunOptions, Task
from hubcheck.plan import ProbePlan, TracedInput
from hubcheck.probe import ModelProbe, ProbeCall
from hubcheck.results import CheckResult, JSONValue
from hubcheck.session import ModelSession, ModelUnavailable
from hubcheck.task import detect_task

if TYPE_CHECKING:
    from hubcheck.context import CheckContext
    from hubcheck.registry import Check


class Engine:
    def __init__(self, path: Path, options: RunOptions, source_problem: str | None = None) -> None:
        self.options = options
        self.session = ModelSession(path, options, source_problem)
        self.results: dict[str, CheckResult] = {}
        self.probe = ModelProbe(self.session, lambda: self.plan, lambda: self.wants_gradients)

    @cached_property
    def plan(self) -> ProbePlan:
        session = self.session
        traced = [TracedInput(trace.image, trace.training) for trace in session.traces]
        return ProbePlan(traced, self.options, session.has_training_argument, session.default_call_is_inference)

    @property
    def wants_gradients(self) -> bool:
        return self.options.wants("gradient-flow") and self.session.fine_tunable

    @cached_property
    def task(self) -> tuple[Task, str]:
        def output() -> ProbeCall | None:
            try:
                return self.probe.call(self.plan.full_batch)
            except ModelUnavailable:
                return None

        return detect_task(self.options, output, self.session.source.signatures)

    def context_for(self, check: type[Check]) -> CheckContext:
        from hubcheck.context import CheckContext

        return CheckContext(self, check.id, (*check.requires, *check.uses))

    def record(self, result: CheckResult) -> None:
        self.results[result.id] = result

    def facts(self) -> dict[str, JSONValue]:
        from hubcheck.facts import model_facts

        return model_facts(self)


__all__ = ["Engine"]
