"""Checks as plugins: the base class and discovery through the ``hubcheck.checks`` entry points.

A model hub adds its own checks exactly as hubcheck registers the built-in ones::

    [project.entry-points."hubcheck.checks"]
    my-hub-licence = "my_hub.checks:LicenceCheck"
"""

from __future__ import annotations

import inspect
import re
from abc import ABC, abstractmethod
from functools import lru_cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from hubcheck.context import CheckContext
    from hubcheck.results import Finding

ENTRY_POINT_GROUP = "hubcheck.checks"
_ID = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


class Check(ABC):
    """One conformance rule. Subclasses set ``id`` and ``title`` and document
    "Fails when ... / Fix: ..." in their docstring, which ``--explain`` prints.

    ``requires`` names checks whose failure makes this one meaningless: the
    runner then skips it, naming the blocker. ``uses`` names checks whose
    results this one reads without being blocked by them. ``ctx.result(id)``
    shows exactly those two. ``order`` places it in the catalog (built-ins use
    10-spaced numbers; plugins default to the end).
    """

    id: ClassVar[str]
    title: ClassVar[str]
    requires: ClassVar[tuple[str, ...]] = ()
    uses: ClassVar[tuple[str, ...]] = ()
    order: ClassVar[int] = 10_000

    @abstractmethod
    def run(self, ctx: CheckContext) -> Finding:
        """Judge the model and say why; never print, never load the model (``ctx.model`` does), and make
        forward passes through ``ctx.probe`` (see hubcheck.context for the whole API)."""

    @classmethod
    def explanation(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "(no description)")


class RegistryError(Exception):
    """A plugin registered something that is not a usable check."""


def _validate(name: str, obj: object) -> type[Check]:
    if not (isinstance(obj, type) and issubclass(obj, Check)):
        raise RegistryError(f"entry point {name!r} in {ENTRY_POINT_GROUP} is not a hubcheck Check subclass")
    if getattr(obj, "id", None) != name:
        raise RegistryError(f"entry point {name!r} points to a check whose id is {getattr(obj, 'id', None)!r}")
    if not _ID.match(name):
        raise RegistryError(f"check id {name!r} must be lower-case words joined by '-'")
    if not getattr(obj, "title", ""):
        raise RegistryError(f"check {name!r} has no title")
    return obj


@lru_cache(maxsize=1)
def available_checks() -> tuple[type[Check], ...]:
    """Every registered check, in catalog order."""
    found: dict[str, type[Check]] = {}
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name in found:
            raise RegistryError(f"two checks registered with id {entry_point.name!r}")
        found[entry_point.name] = _validate(entry_point.name, entry_point.load())
    if "load" not in found:
        raise RegistryError(
            "the built-in checks are not registered; install hubcheck (pip install -e .) "
            "so that its entry points exist"
        )
    return tuple(sorted(found.values(), key=lambda check: (check.order, check.id)))


def check_ids() -> list[str]:
    return [check.id for check in available_checks()]


def explain(check: type[Check]) -> str:
    """What ``hubcheck --explain ID`` prints (and the HTML report shows): id and title, when the check fails
    and how to fix it, and the checks it runs after."""
    requires = f"\n\nRuns after: {', '.join(check.requires)}" if check.requires else ""
    return f"{check.id}: {check.title}\n\n{check.explanation()}{requires}"


def get_check(check_id: str) -> type[Check]:
    for check in available_checks():
        if check.id == check_id:
            return check
    raise KeyError(check_id)

