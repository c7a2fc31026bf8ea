"""Curricula: which modules each job role owes, when, and how often (content/curricula.yml).

Rules are data a trainer keeps beside the content, so adding a state's training law or changing
a role's onboarding needs no code. ``content check`` validates the file against the library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .frontmatter import Fields, read_yaml_document
from .model import JOB_ROLES, US_STATES, ContentError, Library

FILENAME = "curricula.yml"


@dataclass(frozen=True)
class Recurring:
    module: str
    every_months: int


@dataclass(frozen=True)
class RolePlan:
    onboarding: tuple[str, ...] = ()
    onboarding_days: int = 30
    recurring: tuple[Recurring, ...] = ()


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

    def plan(self, job_role: str) -> RolePlan:
        return self.roles.get(job_role, RolePlan(onboarding_days=self.onboarding_days))


_TOP = ("defaults", "roles", "states")
_DEFAULTS = ("onboarding_days", "recurrence_months", "policy_change_days", "due_soon_days")
_ROLE = ("onboarding", "onboarding_days", "recurring")
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
            errors.append(ContentError(shown, fm.line(*key), f"`{'.'.join(map(str, key))}` must be a whole number {low} or more"))
            return None
        return value

    def modules(value, key) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            errors.append(ContentError(shown, fm.line(*key), f"`{'.'.join(map(str, key))}` must be a list of module ids"))
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
                errors.append(ContentError(shown, fm.line(*key, k), f"unknown field `{k}`; known: {', '.join(allowed)}"))
        return value

    defaults = mapping(fm.data.get("defaults") or {}, ("defaults",), _DEFAULTS)
    settings = {k: number(defaults[k], ("defaults", k)) for k in _DEFAULTS if k in defaults}
    base = Curricula(**{k: v for k, v in settings.items() if v is not None})

    roles: dict[str, RolePlan] = {}
    for role, spec in mapping(fm.data.get("roles") or {}, ("roles",), JOB_ROLES).items():
        spec = mapping(spec or {}, ("roles", role), _ROLE)
        recurring = []
        for i, item in enumerate(spec.get("recurring") or []):
            key = ("roles", role, "recurring", i)
            if not isinstance(item, dict) or "module" not in item:
                errors.append(ContentError(shown, fm.line(*key), "each recurring item needs `module:` (and optionally `every_months:`)"))
                continue
            mapping(item, key, ("module", "every_months"))
            modules([item["module"]], key + ("module",))
            months = number(item.get("every_months", base.recurrence_months), key + ("every_months",))
            recurring.append(Recurring(item["module"], months or base.recurrence_months))
        days = number(spec.get("onboarding_days", base.onboarding_days), ("roles", role, "onboarding_days"))
        roles[role] = RolePlan(
            onboarding=modules(spec.get("onboarding") or [], ("roles", role, "onboarding")),
            onboarding_days=days or base.onboarding_days,
            recurring=tuple(recurring),
        )

    states: dict[str, StateRule] = {}
    for code, spec in mapping(fm.data.get("states") or {}, ("states",), US_STATES).items():
        key = ("states", code)
        spec = mapping(spec or {}, key, _STATE)
        if "law" not in spec or "modules" not in spec or "within_days_of_hire" not in spec:
            errors.append(ContentError(shown, fm.line(*key), f"state {code} needs `law`, `modules` and `within_days_of_hire`"))
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
        errors.append(ContentError(
            shown, lines[0], f"module `{module_id}` is not served because of errors{also}: fix {cause} first", cause=cause,
        ))
    curricula = Curricula(
        onboarding_days=base.onboarding_days,
        recurrence_months=base.recurrence_months,
        policy_change_days=base.policy_change_days,
        due_soon_days=base.due_soon_days,
        roles=roles,
        states=states,
    )
    return curricula, sorted(errors, key=lambda e: e.line)


def _and(numbers: list[int]) -> str:
    words = [str(n) for n in numbers]
    return ", ".join(words[:-1]) + " and " + words[-1] if len(words) > 1 else words[0]


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
