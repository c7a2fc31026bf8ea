"""Curricula: which modules each job role owes, when, and how often (content/curricula.yml).

Rules are data a trainer keeps beside the content, so adding a state's training law or changing
a role's onboarding needs no code. ``content check`` validates the file against the library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .frontmatter import Fields, read_yaml_document
from .model import JOB_ROLES, US_STATES, ContentError, Library

FILENAME = "curricula.yml"


@dataclass(frozen=True)
class Refresher:
    """One module of a refresher plan. It falls due ``every_months`` after each completion;
    with ``first_after_days`` it is also owed by someone who never took it: first that many
    days after their hire date, then on the same day of the year (so a plan's refreshers are
    spread through the year instead of falling due together)."""

    module: str
    every_months: int
    first_after_days: int | None = None


@dataclass(frozen=True)
class RolePlan:
    onboarding: tuple[str, ...] = ()
    onboarding_days: int = 30
    refreshers: tuple[Refresher, ...] = ()


@dataclass(frozen=True)
class FollowUp:
    """Spaced follow-up of a missed objective: a refresher that trains it is assigned
    ``after_days[0]`` days after the miss; missed again, ``after_days[1]`` days after that
    miss, and so on; once the list is used up, the manager's results are where it shows."""

    after_days: tuple[int, ...] = (7, 30, 90)
    due_days: int = 14  # days from being assigned to being due


@dataclass(frozen=True)
class StateRule:
    """A state's training mandate, e.g. Texas Health and Safety Code 181.101."""

    law: str
    modules: tuple[str, ...]
    within_days_of_hire: int
    after_law_change_days: int | None = None  # the latest a retraining may be due
    signed_statement: bool = False
    retain_years: int | None = None


@dataclass(frozen=True)
class Curricula:
    onboarding_days: int = 30
    recurrence_months: int = 12
    policy_change_days: int = 30
    due_soon_days: int = 14
    roles: dict[str, RolePlan] = field(default_factory=dict)
    states: dict[str, StateRule] = field(default_factory=dict)
    #: Refreshers every role owes (the periodic security reminders), besides its own plan.
    everyone: tuple[Refresher, ...] = ()
    follow_up: FollowUp = FollowUp()

    def plan(self, job_role: str) -> RolePlan:
        return self.roles.get(job_role, RolePlan(onboarding_days=self.onboarding_days))

    def refreshers(self, job_role: str) -> tuple[tuple[Refresher, str], ...]:
        """(refresher, whose plan: the role or "everyone") a person of this role owes; the
        role's own entry wins when both name a module."""
        own = self.plan(job_role).refreshers
        named = {r.module for r in own}
        return tuple((r, job_role) for r in own) + tuple(
            (r, "everyone") for r in self.everyone if r.module not in named
        )


_TOP = ("defaults", "roles", "states", "everyone", "follow_up")
_DEFAULTS = ("onboarding_days", "recurrence_months", "policy_change_days", "due_soon_days")
#: ``recurring`` is the older name of ``refreshers`` (same items), still read.
_ROLE = ("onboarding", "onboarding_days", "refreshers", "recurring")
_REFRESHER = ("module", "every_months", "first_after_days")
_STATE = ("law", "modules", "within_days_of_hire", "after_law_change_days", "signed_statement", "retain_years")


def load_curricula(root: Path, library: Library | None = None) -> tuple[Curricula, list[ContentError]]:
    """Read root/curricula.yml (a missing file means defaults only) and check it."""
    path = root / FILENAME
    if not path.exists():
        return Curricula(), []
    shown = _display(path)
    fm, errors = read_yaml_document(shown, path.read_text(encoding="utf-8"))
    if fm is None:
        return Curricula(), errors
    f = Fields(shown, fm)
    f.unknown(_TOP)
    known_modules = set(library.modules) if library is not None else None
    errors = f.errors
    unserved: dict[str, list[int]] = {}  # module id -> lines naming it, for modules with errors

    def number(value, key, low=1) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            errors.append(
                ContentError(shown, fm.line(*key), f"`{'.'.join(map(str, key))}` must be a whole number {low} or more")
            )
            return None
        return value

    def modules(value, key) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            errors.append(
                ContentError(shown, fm.line(*key), f"`{'.'.join(map(str, key))}` must be a list of module ids")
            )
            return ()
        for i, module_id in enumerate(value):
            if known_modules is None or module_id in known_modules:
                continue
            if library is not None and module_id in library.unserved_modules:
                unserved.setdefault(module_id, []).append(fm.line(*key, i))  # said once, below
            else:
                errors.append(ContentError(shown, fm.line(*key, i), f"unknown module `{module_id}`"))
        return tuple(value)

    def mapping(value, key, allowed) -> dict:
        if not isinstance(value, dict):
            errors.append(ContentError(shown, fm.line(*key), f"`{'.'.join(map(str, key))}` must be a mapping"))
            return {}
        for k in value:
            if k not in allowed:
                errors.append(
                    ContentError(shown, fm.line(*key, k), f"unknown field `{k}`; known: {', '.join(allowed)}")
                )
        return value

    defaults = mapping(fm.data.get("defaults") or {}, ("defaults",), _DEFAULTS)
    settings: dict[str, Any] = {k: number(defaults[k], ("defaults", k)) for k in _DEFAULTS if k in defaults}
    base = Curricula(**{k: v for k, v in settings.items() if v is not None})

    def refreshers(items, key) -> tuple[Refresher, ...]:
        if not isinstance(items, list):
            errors.append(
                ContentError(shown, fm.line(*key), f"`{'.'.join(map(str, key))}` must be a list of `- module:` items")
            )
            return ()
        found = []
        for i, item in enumerate(items):
            at = key + (i,)
            if not isinstance(item, dict) or "module" not in item:
                errors.append(
                    ContentError(
                        shown,
                        fm.line(*at),
                        "each refresher needs `module:` (and optionally `every_months:` and `first_after_days:`)",
                    )
                )
                continue
            mapping(item, at, _REFRESHER)
            modules([item["module"]], at + ("module",))
            months = number(item.get("every_months", base.recurrence_months), at + ("every_months",))
            first = item.get("first_after_days")
            found.append(
                Refresher(
                    item["module"],
                    months or base.recurrence_months,
                    number(first, at + ("first_after_days",), low=0) if first is not None else None,
                )
            )
        return tuple(found)

    roles: dict[str, RolePlan] = {}
    for role, spec in mapping(fm.data.get("roles") or {}, ("roles",), JOB_ROLES).items():
        spec = mapping(spec or {}, ("roles", role), _ROLE)
        name = "refreshers" if "refreshers" in spec or "recurring" not in spec else "recurring"
        days = number(spec.get("onboarding_days", base.onboarding_days), ("roles", role, "onboarding_days"))
        roles[role] = RolePlan(
            onboarding=modules(spec.get("onboarding") or [], ("roles", role, "onboarding")),
            onboarding_days=days or base.onboarding_days,
            refreshers=refreshers(spec.get(name) or [], ("roles", role, name)),
        )
    everyone = mapping(fm.data.get("everyone") or {}, ("everyone",), ("refreshers",))
    for_everyone = refreshers(everyone.get("refreshers") or [], ("everyone", "refreshers"))
    follow_up = _follow_up(
        mapping(fm.data.get("follow_up") or {}, ("follow_up",), ("after_days", "due_days")), number, errors, shown, fm
    )

    states: dict[str, StateRule] = {}
    for code, spec in mapping(fm.data.get("states") or {}, ("states",), US_STATES).items():
        key = ("states", code)
        spec = mapping(spec or {}, key, _STATE)
        if "law" not in spec or "modules" not in spec or "within_days_of_hire" not in spec:
            errors.append(
                ContentError(shown, fm.line(*key), f"state {code} needs `law`, `modules` and `within_days_of_hire`")
            )
            continue
        after = spec.get("after_law_change_days")
        retain = spec.get("retain_years")
        states[code] = StateRule(
            law=str(spec["law"]),
            modules=modules(spec["modules"], key + ("modules",)),
            within_days_of_hire=number(spec["within_days_of_hire"], key + ("within_days_of_hire",)) or 0,
            after_law_change_days=number(after, key + ("after_law_change_days",)) if after is not None else None,
            signed_statement=bool(spec.get("signed_statement", False)),
            retain_years=number(retain, key + ("retain_years",)) if retain is not None else None,
        )
    for module_id, lines in unserved.items():
        # There, but not served: its file (or its scenario's) is what to fix. Once, not per line.
        assert library is not None
        cause = library.unserved_modules[module_id]
        lines = sorted(set(lines))
        also = f" (named on lines {_and(lines)})" if len(lines) > 1 else ""
        errors.append(
            ContentError(
                shown,
                lines[0],
                f"module `{module_id}` is not served because of errors{also}: fix {cause} first",
                cause=cause,
            )
        )
    curricula = Curricula(
        onboarding_days=base.onboarding_days,
        recurrence_months=base.recurrence_months,
        policy_change_days=base.policy_change_days,
        due_soon_days=base.due_soon_days,
        roles=roles,
        states=states,
        everyone=for_everyone,
        follow_up=follow_up,
    )
    return curricula, sorted(errors, key=lambda e: e.line)


def _follow_up(spec: dict, number, errors: list[ContentError], shown: str, fm) -> FollowUp:
    """``follow_up:``: ``after_days`` (a list of days, each longer than the one before) and
    ``due_days``."""
    default = FollowUp()
    after = spec.get("after_days", list(default.after_days))
    days: tuple[int, ...] = default.after_days
    if (
        not isinstance(after, list)
        or not after
        or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in after)
    ):
        errors.append(
            ContentError(
                shown,
                fm.line("follow_up", "after_days"),
                "`follow_up.after_days` must be a list of whole numbers of days above 0, e.g. [7, 30, 90]",
            )
        )
    elif any(later <= earlier for earlier, later in zip(after, after[1:], strict=False)):
        errors.append(
            ContentError(
                shown,
                fm.line("follow_up", "after_days"),
                "`follow_up.after_days` must grow: each interval longer than the one before",
            )
        )
    else:
        days = tuple(after)
    due = number(spec.get("due_days", default.due_days), ("follow_up", "due_days"))
    return FollowUp(after_days=days, due_days=due or default.due_days)


def _and(numbers: list[int]) -> str:
    words = [str(n) for n in numbers]
    return ", ".join(words[:-1]) + " and " + words[-1] if len(words) > 1 else words[0]


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
