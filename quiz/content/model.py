"""The parsed shape of training content: what the rest of Rounds may rely on.

Parsing (``parse.py``) and validation (``validate.py``) produce these objects; the engine and
the web layer only ever read them. They are frozen so a cached object can be shared by every
request without anyone changing it underneath another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

#: Job roles a module may be written for. Users carry one of these as their ``job_role``.
JOB_ROLES: tuple[str, ...] = (
    "case-manager",
    "front-desk",
    "pharmacy",
    "business-associate",
    "clinical",
    "billing",
    "it",
    "leadership",
)

#: Practice settings a module or scenario variant may be written for.
SPECIALTIES: tuple[str, ...] = ("medical", "behavioral-health", "dental", "pharmacy")

#: How people read the codes above (the codes stay in files, rosters and evidence).
LABELS: dict[str, str] = {
    "case-manager": "Case manager",
    "front-desk": "Front desk",
    "pharmacy": "Pharmacy",
    "business-associate": "Business associate",
    "clinical": "Clinical",
    "billing": "Billing",
    "it": "IT",
    "leadership": "Leadership",
    "medical": "Medical",
    "behavioral-health": "Behavioral health",
    "dental": "Dental",
}


def label(code: str | None) -> str:
    """A role or specialty code as people read it; an unknown code as it is."""
    return LABELS.get(code, code) if code else ""


def role_label(job_role: str | None, specialty: str | None, form: str = "{role} ({specialty})") -> str:
    """A person's job role in words, with their specialty only when it adds something (a
    pharmacist's "pharmacy" specialty does not): "Front desk (Dental)", "Pharmacy"."""
    role = label(job_role)
    if not specialty or specialty == job_role:
        return role
    return form.format(role=role, specialty=label(specialty))


#: What a module is in its role track: the first training, or a short refresher.
MODULE_KINDS: tuple[str, ...] = ("onboarding", "refresher")

#: Topics a module may cover (`topics:`); docs/curriculum.md is the topic x role matrix.
TOPICS: dict[str, str] = {
    "phi-basics": "What PHI is, and its identifiers",
    "permitted-uses": "Permitted uses and disclosures",
    "authorizations": "Authorizations",
    "family-caregivers": "Family and caregivers",
    "verify-identity": "Verifying identity and authority",
    "minimum-necessary": "Minimum necessary and its exceptions",
    "patient-rights": "Patient rights",
    "security-reminders": "Security reminders",
    "malware": "Protection from malicious software",
    "login-monitoring": "Log-in monitoring",
    "password-management": "Password management",
    "approved-channels": "Approved channels and devices, secure messaging",
    "remote-field-work": "Remote and field work",
    "telehealth": "Telehealth",
    "incident-recognition": "Recognizing incidents (misdirected messages, lost devices, snooping)",
    "internal-reporting": "Reporting incidents internally at once",
    "breach-notification": "Breach notification (risk assessment, 60-day limits, HHS and media)",
    "part2": "42 CFR Part 2 consent and redisclosure",
    "community-referrals": "Referrals to community partners, data-sharing agreements",
    "social-media": "Social media and incidental disclosures",
    "sanctions": "Sanctions",
    "governance": "Governance, escalation and accountability",
    "baa-obligations": "Business associate obligations under the BAA",
    "ba-reporting": "Business associates reporting to the covered entity",
    "state-law": "State privacy and training mandates",
}

#: Two-letter codes of the states a module may be limited to (`states:`).
US_STATES: tuple[str, ...] = (
    "AL",
    "AK",
    "AZ",
    "AR",
    "CA",
    "CO",
    "CT",
    "DE",
    "DC",
    "FL",
    "GA",
    "HI",
    "ID",
    "IL",
    "IN",
    "IA",
    "KS",
    "KY",
    "LA",
    "ME",
    "MD",
    "MA",
    "MI",
    "MN",
    "MS",
    "MO",
    "MT",
    "NE",
    "NV",
    "NH",
    "NJ",
    "NM",
    "NY",
    "NC",
    "ND",
    "OH",
    "OK",
    "OR",
    "PA",
    "RI",
    "SC",
    "SD",
    "TN",
    "TX",
    "UT",
    "VT",
    "VA",
    "WA",
    "WV",
    "WI",
    "WY",
    "PR",
)


@dataclass(frozen=True)
class ContentError:
    """One problem in one file, at one line (1-based; 0 when the whole file is at fault).

    ``cause`` is set when the problem is only a consequence of another file's errors (a module
    whose scenario has errors): the file to fix first. Such errors are listed after every file's
    own errors (``Library.errors``), and two errors alike but for it are the same error.
    """

    path: str
    line: int
    message: str
    cause: str | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass(frozen=True)
class Choice:
    """One option at a decision point. ``number`` is 1-based, in the order written.

    ``correct`` is what reports count (a partly correct choice counts as correct);
    ``partly`` marks a correct choice that is safe but not the best answer (``Correct: partly``,
    or Points above 0 but fewer than the best at its decision); ``recoverable`` is the author's
    word that a walk may still pass after this incorrect choice (``Recoverable: yes``).
    """

    number: int
    label: str
    target: str
    points: int
    correct: bool
    critical: bool
    feedback_html: str
    line: int
    partly: bool = False
    recoverable: bool = False


@dataclass(frozen=True)
class Node:
    """A decision point (has choices and an objective) or an ending (has an outcome)."""

    id: str
    title: str
    body_html: str
    objective: str | None
    outcome: str | None
    choices: tuple[Choice, ...]
    line: int

    @property
    def is_ending(self) -> bool:
        return self.outcome is not None

    def choice(self, number: int) -> Choice | None:
        for c in self.choices:
            if c.number == number:
                return c
        return None


@dataclass(frozen=True)
class ScoreRange:
    """Lowest and highest score any walk can reach, and the highest without a critical choice."""

    lowest: int
    highest: int
    highest_safe: int | None  # None: every walk to an ending passes a critical choice


@dataclass(frozen=True)
class Scenario:
    """A branching knowledge check; ``specialty`` None is the general variant."""

    id: str
    title: str
    specialty: str | None
    start: str
    nodes: dict[str, Node]
    cites: tuple[str, ...]
    path: str
    version: str  # sha256 hex of the exact source text
    source: str
    scores: ScoreRange | None = None  # filled in by validation
    #: Every kind of walk from the start to an ending (walks.Walk), filled in by validation.
    walks: frozenset = frozenset()

    @property
    def start_node(self) -> Node:
        return self.nodes[self.start]

    @cached_property
    def revisitable(self) -> frozenset[str]:
        """The decisions a walk can come back to: those on a loop of choices. Only these can be
        answered twice in one walk, so only for these must the engine ask whether this is the
        first visit (it scores); every other decision is always met for the first time."""
        following = {node_id: {c.target for c in node.choices} for node_id, node in self.nodes.items()}

        def returns_to(start: str) -> bool:
            seen: set[str] = set()
            todo = list(following[start])
            while todo:
                node_id = todo.pop()
                if node_id == start:
                    return True
                if node_id not in seen:
                    seen.add(node_id)
                    todo.extend(following.get(node_id, ()))
            return False

        return frozenset(node_id for node_id in self.nodes if returns_to(node_id))


@dataclass(frozen=True)
class Screen:
    """One lesson screen: a level-2 heading and the text under it, rendered and sanitized."""

    title: str
    html: str


@dataclass(frozen=True)
class Module:
    id: str
    title: str
    roles: tuple[str, ...]
    specialties: tuple[str, ...]
    minutes: int
    objectives: dict[str, str]
    cites: tuple[str, ...]
    policy_name: str
    policy_version: str
    pass_score: int
    scenario_ids: tuple[str, ...]
    acknowledgement: str
    screens: tuple[Screen, ...]
    manager_notes_html: str
    path: str
    version: str  # sha256 hex of the exact source text
    source: str
    kind: str = "onboarding"  # onboarding | refresher
    topics: tuple[str, ...] = ()
    states: tuple[str, ...] = ()  # empty: every state

    def is_for(self, job_role: str, specialty: str | None) -> bool:
        """A module is for a learner whose job role it lists, in a specialty it lists (or any)."""
        if job_role not in self.roles:
            return False
        return not self.specialties or (specialty in self.specialties)

    def covers_state(self, work_state: str | None) -> bool:
        """A state-law module is for staff who work in one of its states; others are for all."""
        return not self.states or work_state in self.states


def error_order(error: ContentError) -> tuple[bool, str, int, str]:
    """How errors are listed: every file's own errors first, then the consequences of those
    (``ContentError.cause``), each by file and line."""
    return error.cause is not None, error.path, error.line, error.message


@dataclass
class Library:
    """Everything that loaded cleanly, plus every error found on the way."""

    modules: dict[str, Module] = field(default_factory=dict)
    #: scenario id -> specialty (None for general) -> Scenario
    scenarios: dict[str, dict[str | None, Scenario]] = field(default_factory=dict)
    #: In ``error_order``, each once.
    errors: list[ContentError] = field(default_factory=list)
    #: Module id -> the file to fix, for each module that has a file but is not served: its own,
    #: or its scenario's when that is why. What names the module elsewhere (curricula.yml) is
    #: told which file to fix.
    unserved_modules: dict[str, str] = field(default_factory=dict)

    @cached_property
    def standards(self) -> list[ContentError]:
        """Where what is served falls short of the house standards (``standards.py``): a
        reading level, manager notes, enough decisions. Such a file is still served. Worked
        out when first read, as only ``content check`` and the Content page need it (the
        reading level's dictionaries take half a second to load)."""
        from .standards import check_library

        return check_library(self)

    def scenario_for(self, scenario_id: str, specialty: str | None) -> Scenario | None:
        """The learner's specialty variant if there is one, else the general one."""
        variants = self.scenarios.get(scenario_id, {})
        return variants.get(specialty) or variants.get(None)

    def versions_of(self, scenario_id: str) -> list[Scenario]:
        """Every version of one check: the general one first, then each specialty's by name."""
        variants = self.scenarios.get(scenario_id, {})
        return sorted(variants.values(), key=lambda s: (s.specialty is not None, s.specialty or ""))

    def checks_of(self, module: Module) -> list[list[Scenario]]:
        """Each of a module's checks, in order, with every version of it (``versions_of``)."""
        return [self.versions_of(sid) for sid in module.scenario_ids]

    def modules_using(self, scenario_id: str) -> list[Module]:
        """The modules whose checks include this scenario, by title."""
        return sorted(
            (m for m in self.modules.values() if scenario_id in m.scenario_ids), key=lambda m: m.title.lower()
        )

    def modules_for(self, job_role: str, specialty: str | None, work_state: str | None = None) -> list[Module]:
        return sorted(
            (m for m in self.modules.values() if m.is_for(job_role, specialty) and m.covers_state(work_state)),
            key=lambda m: (m.title.lower(), m.id),
        )

    def all_scenarios(self) -> list[Scenario]:
        return [s for variants in self.scenarios.values() for s in variants.values()]
