"""xAPI 1.0.3 out: evidence records as statements, sent to a learning record store (LRS).

Every learning event in the evidence log becomes one statement (``KINDS``): an attempt begun,
each lesson screen experienced, each decision answered (a ``cmi.interaction`` of type
``choice``, with the choices, the correct responses pattern, the response and its success), the
module passed or failed (raw, minimum, maximum and scaled score, one per attempt), the
acknowledgement of the policy (its id and version), an assignment given and one waived.

Who: the organization's account of the person, never an email address: ``account`` with
``homePage`` = BASE_URL and ``name`` = the person's employee id, or ``rounds-user-<id>`` (their
Rounds account number) when the roster gives them none. No name, no email, no typed signature,
no free text an admin wrote (a waiver's reason) leaves Rounds. What: activity ids under
``BASE_URL/xapi/activities/``, stable across versions; the exact content version, the policy
version, the attempt and the evidence record itself (sequence number and hash) travel in the
context's extensions (``BASE_URL/xapi/extensions/...``). The verbs are ADL's where ADL has one;
"accepted" (the policy) is Activity Streams'; "was assigned" and "was excused from" (a waiver)
are Rounds' own, under ``BASE_URL/xapi/verbs/``.

Each statement's id is made from its record's hash (``statement_id``): sending it again, from
the outbox or from another copy of the log, can only ever name the same statement, and the LRS
keeps one.

The learner's request never talks to the LRS, nor writes anything for it: the job ``xapi send``
(``send``, from a timer every few minutes) turns the records appended since its last run into
rows of the outbox table (``xapi_outbox``), a batch per short write, then posts the due rows to
the LRS, a batch per request, with no transaction open while it waits. A batch taken (200/204)
is marked sent. A statement the LRS refuses (400, 409 with other content, 413, 422) is marked
refused with the LRS's answer and waits for an admin's Retry (Admin > xAPI). Anything else (the
LRS down, slow, 5xx, 401/403/404: a problem of the connection or the settings, not of the
statement) leaves the batch queued, its next try put off by ``backoff`` (1 minute, doubling, at
most 6 hours). One run at a time (the run lock ``xapi``). Plain Python, no Flask.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple, cast
from urllib.parse import quote

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.orm import Session

from . import evidence, jobs, versions
from .content import Library, Module, Scenario
from .db import Steps
from .models import Attempt, Evidence, User, XapiStatement, utcnow
from .words import ngettext

XAPI_VERSION = "1.0.3"
#: Statement ids are UUIDs (version 5) of the record's hash in this namespace: fixed for good.
NAMESPACE = uuid.UUID("6f1e3b7a-2c4d-5e8f-9a0b-52f0756e6473")
LANGUAGE = "en-US"
DEFAULT_BASE_URL = "http://127.0.0.1:5000"
PLATFORM = "Rounds"

ADL_VERBS = "http://adlnet.gov/expapi/verbs/"
ADL_ACTIVITIES = "http://adlnet.gov/expapi/activities/"
ACCEPT = "http://activitystrea.ms/schema/1.0/accept"

#: Evidence kind -> (verb IRI, or a name under BASE_URL/xapi/verbs/ when it starts with "/";
#: the verb's display). The kinds not listed here are not learning events (sign-ins, roster
#: changes, reminders...) and are not sent.
VERBS: dict[str, tuple[str, str]] = {
    "attempt.started": (ADL_VERBS + "attempted", "attempted"),
    "lesson.viewed": (ADL_VERBS + "experienced", "experienced"),
    "choice.made": (ADL_VERBS + "answered", "answered"),
    "module.passed": (ADL_VERBS + "passed", "passed"),
    "module.failed": (ADL_VERBS + "failed", "failed"),
    "acknowledgement.signed": (ACCEPT, "accepted"),
    "assignment.created": ("/assigned", "was assigned"),
    "assignment.waived": ("/waived", "was excused from"),
}
KINDS = tuple(VERBS)

#: Records turned into outbox rows per writing step (a few tens of milliseconds of SQLite's
#: write lock; docs/architecture.md, "Daily jobs and imports").
QUEUE_BATCH = 200
#: Statements per request to the LRS, unless XAPI_BATCH says otherwise.
SEND_BATCH = 50
FIRST_DELAY = timedelta(minutes=1)
LONGEST_DELAY = timedelta(hours=6)
#: The LRS's answers that refuse the statement itself: sent again, it would be refused again.
REFUSALS = frozenset({400, 409, 413, 422})
#: How much of the LRS's answer an outbox row keeps.
ERROR_CHARS = 1000


class Record(NamedTuple):
    """What a statement is made of: these fields of an evidence record."""

    seq: int
    recorded_at: str
    user_id: int | None
    module_id: str | None
    content_version: str | None
    policy_version: str | None
    event: str
    details: str
    hash: str


#: Where each of Record's fields is in a row of ``evidence.EXPORT_COLUMNS``.
_IN_EXPORT = [evidence.EXPORT_COLUMNS.index(name) for name in Record._fields]


def from_export(row: Sequence[Any]) -> Record:
    """The Record of a row of ``evidence.EXPORT_COLUMNS`` (``evidence.export_rows``)."""
    return Record(*(row[i] for i in _IN_EXPORT))


def statement_id(record_hash: str) -> str:
    """The statement's id: the same record always makes the same id."""
    return str(uuid.uuid5(NAMESPACE, record_hash))


def registration(user_id: int, module_id: str, attempt: int) -> str:
    """The registration (xAPI context) of one attempt: every statement of it shares one."""
    return str(uuid.uuid5(NAMESPACE, f"attempt/{user_id}/{module_id}/{attempt}"))


def account_name(user_id: int, employee_id: str | None) -> str:
    """The actor's account name: the employee id, or ``rounds-user-<id>`` when there is none."""
    return (employee_id or "").strip() or f"rounds-user-{user_id}"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "policy"


class Builder:
    """Makes statements from records, reading what they need (the people's employee ids, the
    content versions, the attempts) once each. ``base_url``: the site's own address (BASE_URL),
    the root of Rounds' IRIs and the actors' account home page."""

    def __init__(self, session: Session, library: Library | None, base_url: str):
        self.session = session
        self.library = library
        self.base = base_url.rstrip("/")
        self._names: dict[int, str | None] = {}
        self._content: dict[str, Module | Scenario | None] = {}
        self._attempts: dict[tuple[int, str, int], Attempt | None] = {}

    # --- IRIs ------------------------------------------------------------------------------

    def iri(self, *parts: str) -> str:
        return "/".join([self.base, "xapi", *(quote(p, safe="") for p in parts)])

    def extension(self, name: str) -> str:
        return f"{self.base}/xapi/extensions/{name}"

    def verb(self, event: str) -> dict[str, Any]:
        iri, display = VERBS[event]
        if iri.startswith("/"):
            iri = f"{self.base}/xapi/verbs{iri}"
        return {"id": iri, "display": {LANGUAGE: display}}

    # --- what the records name -------------------------------------------------------------

    def load_people(self, user_ids: Iterable[int | None]) -> None:
        wanted = sorted({u for u in user_ids if u is not None} - self._names.keys())
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            found = dict(
                self.session.execute(select(User.id, User.employee_id).where(User.id.in_(chunk))).tuples().all()
            )
            for user_id in chunk:
                self._names[user_id] = account_name(user_id, found[user_id]) if user_id in found else None

    def actor(self, user_id: int) -> dict[str, Any] | None:
        if user_id not in self._names:
            self.load_people([user_id])
        name = self._names[user_id]
        if name is None:
            return None
        return {"objectType": "Agent", "account": {"homePage": self.base, "name": name}}

    def content(self, version: str | None) -> Module | Scenario | None:
        if not version:
            return None
        if version not in self._content:
            try:
                found: Module | Scenario | None = versions.resolve(self.session, self.library or Library(), version)
            except (LookupError, ValueError):  # not stored, or no longer parses: say what the record says
                found = None
            self._content[version] = found
        return self._content[version]

    def attempt(self, user_id: int, module_id: str, number: int) -> Attempt | None:
        key = (user_id, module_id, number)
        if key not in self._attempts:
            self._attempts[key] = self.session.scalar(
                select(Attempt).where(
                    Attempt.user_id == user_id, Attempt.module_id == module_id, Attempt.number == number
                )
            )
        return self._attempts[key]

    def module_activity(self, module_id: str, version: str | None) -> dict[str, Any]:
        module = self.content(version)
        if not isinstance(module, Module) and self.library is not None:
            module = self.library.modules.get(module_id)
        title = module.title if isinstance(module, Module) else module_id
        return {
            "objectType": "Activity",
            "id": self.iri("activities", "module", module_id),
            "definition": {"type": ADL_ACTIVITIES + "module", "name": {LANGUAGE: title}},
        }

    # --- statements ------------------------------------------------------------------------

    def statement(self, record: Record) -> dict[str, Any] | None:
        """The statement of one record; None for a kind not sent, or a record about no one."""
        if record.event not in VERBS or record.user_id is None or not record.module_id:
            return None
        actor = self.actor(record.user_id)
        if actor is None:
            return None
        try:
            details = json.loads(record.details)
        except ValueError:
            details = {}
        details = details if isinstance(details, dict) else {}
        module = self.module_activity(record.module_id, record.content_version)
        extensions: dict[str, Any] = {self.extension("evidence-record"): {"seq": record.seq, "hash": record.hash}}
        if record.content_version:
            extensions[self.extension("content-version")] = record.content_version
        if record.policy_version:
            extensions[self.extension("policy-version")] = record.policy_version
        context: dict[str, Any] = {"platform": PLATFORM, "language": LANGUAGE, "extensions": extensions}
        number = details.get("attempt")
        if isinstance(number, int) and not record.event.startswith("assignment."):
            context["registration"] = registration(record.user_id, record.module_id, number)
            extensions[self.extension("attempt")] = number
        made = getattr(self, "_" + record.event.replace(".", "_"))(record, details, module, context)
        if made is None:
            return None
        target, result = made
        statement: dict[str, Any] = {
            "id": statement_id(record.hash),
            "actor": actor,
            "verb": self.verb(record.event),
            "object": target,
            "context": context,
            "timestamp": record.recorded_at,
            "version": XAPI_VERSION,
        }
        if result:
            statement["result"] = result
        return statement

    @staticmethod
    def _parent(context: dict[str, Any], *activities: dict[str, Any], grouping: Sequence[dict[str, Any]] = ()) -> None:
        context["contextActivities"] = {"parent": list(activities)}
        if grouping:
            context["contextActivities"]["grouping"] = list(grouping)

    def _attempt_started(self, record, details, module, context):
        scenarios = details.get("scenarios")
        if isinstance(scenarios, list):
            context["extensions"][self.extension("scenario-versions")] = [
                {"id": s.get("id"), "version": s.get("version")} for s in scenarios if isinstance(s, dict)
            ]
        return module, None

    def _lesson_viewed(self, record, details, module, context):
        screen = details.get("screen")
        title = details.get("title") or f"Screen {screen}"
        target = {
            "objectType": "Activity",
            "id": self.iri("activities", "module", record.module_id, "screen", str(screen)),
            "definition": {"type": ADL_ACTIVITIES + "lesson", "name": {LANGUAGE: str(title)}},
        }
        if isinstance(details.get("of"), int):
            context["extensions"][self.extension("screens")] = details["of"]
        self._parent(context, module)
        return target, None

    def _choice_made(self, record, details, module, context):
        scenario_id, node_id, number = details.get("scenario"), details.get("node"), details.get("choice")
        if not isinstance(scenario_id, str) or not isinstance(node_id, str) or not isinstance(number, int):
            return None
        version = details.get("scenario_version")
        scenario = self.content(version if isinstance(version, str) else None)
        node = scenario.nodes.get(node_id) if isinstance(scenario, Scenario) else None

        def key(n: int) -> str:
            return f"choice-{n}"

        definition: dict[str, Any] = {
            "type": ADL_ACTIVITIES + "cmi.interaction",
            "name": {LANGUAGE: node.title if node is not None and node.title else node_id},
            "interactionType": "choice",
        }
        if node is not None and node.choices:
            definition["choices"] = [{"id": key(c.number), "description": {LANGUAGE: c.label}} for c in node.choices]
            correct = [key(c.number) for c in node.choices if c.correct]
        else:  # the version is gone: what the record itself says of the choice made
            text = details.get("choice_text")
            definition["choices"] = [{"id": key(number), "description": {LANGUAGE: str(text or key(number))}}]
            correct = [key(number)] if details.get("correct") else []
        if correct:  # each correct choice is a right answer on its own
            definition["correctResponsesPattern"] = correct
        target = {"objectType": "Activity", "id": self.iri("activities", "scenario", scenario_id, node_id)}
        target["definition"] = definition
        scenario_activity = {
            "objectType": "Activity",
            "id": self.iri("activities", "scenario", scenario_id),
            "definition": {
                "type": ADL_ACTIVITIES + "assessment",
                "name": {LANGUAGE: scenario.title if isinstance(scenario, Scenario) else scenario_id},
            },
        }
        self._parent(context, scenario_activity, grouping=[module])
        extensions = context["extensions"]
        if isinstance(version, str):
            extensions[self.extension("scenario-version")] = version
        if details.get("objective"):
            extensions[self.extension("objective")] = details["objective"]
        result: dict[str, Any] = {"response": key(number), "success": bool(details.get("correct"))}
        if isinstance(details.get("points"), int):
            result["score"] = {"raw": details["points"]}
        result["extensions"] = {self.extension("critical"): bool(details.get("critical"))}
        return target, result

    def _module_score(self, record, details) -> dict[str, Any] | None:
        raw = details.get("score")
        if not isinstance(raw, int):
            return None
        score: dict[str, Any] = {"raw": raw}
        number = details.get("attempt")
        attempt = self.attempt(record.user_id, record.module_id, number) if isinstance(number, int) else None
        if attempt is None:
            return score
        try:
            scenario_versions = json.loads(attempt.scenario_versions)
        except ValueError:
            return score
        scenarios = [self.content(v) for v in scenario_versions if isinstance(v, str)]
        if not scenarios or any(not isinstance(s, Scenario) or s.scores is None for s in scenarios):
            return score
        lowest = sum(s.scores.lowest for s in scenarios if isinstance(s, Scenario) and s.scores)
        highest = sum(s.scores.highest for s in scenarios if isinstance(s, Scenario) and s.scores)
        if not lowest <= raw <= highest or highest <= 0:
            return score
        score.update({"min": lowest, "max": highest})
        scaled = raw / highest if raw >= 0 else (raw / -lowest if lowest < 0 else 0)
        score["scaled"] = round(max(-1.0, min(1.0, scaled)), 4)
        return score

    def _module_passed(self, record, details, module, context):
        result: dict[str, Any] = {"success": record.event == "module.passed", "completion": True}
        score = self._module_score(record, details)
        if score is not None:
            result["score"] = score
        extensions: dict[str, Any] = {}
        if isinstance(details.get("pass_score"), int):
            extensions[self.extension("pass-score")] = details["pass_score"]
        if isinstance(details.get("critical_choices"), list):
            extensions[self.extension("critical-choices")] = len(details["critical_choices"])
        if extensions:
            result["extensions"] = extensions
        return module, result

    _module_failed = _module_passed

    def _acknowledgement_signed(self, record, details, module, context):
        policy = details.get("policy")
        found = self.content(record.content_version)
        if not policy and isinstance(found, Module):
            policy = found.policy_name
        policy = str(policy or record.module_id)
        target = {
            "objectType": "Activity",
            "id": self.iri("activities", "policy", _slug(policy)),
            "definition": {"type": f"{self.base}/xapi/activity-types/policy", "name": {LANGUAGE: policy}},
        }
        self._parent(context, module)
        extensions = context["extensions"]
        extensions[self.extension("policy")] = {"id": _slug(policy), "name": policy, "version": record.policy_version}
        if details.get("signed_in_with_admin_set_password") is not None:
            extensions[self.extension("signed-with-admin-set-password")] = bool(
                details["signed_in_with_admin_set_password"]
            )
        if isinstance(details.get("state_statement"), dict):
            extensions[self.extension("state-statement")] = details["state_statement"]
        result: dict[str, Any] = {"completion": True}
        if isinstance(details.get("statement"), str) and details["statement"].strip():
            result["response"] = details["statement"].strip()
        return target, result

    def _assignment_created(self, record, details, module, context):
        context["extensions"][self.extension("assignment")] = {
            "id": details.get("assignment"),
            "reason": details.get("reason"),
            "due_on": details.get("due_on"),
        }
        return module, None

    _assignment_waived = _assignment_created


# --- the outbox: records into rows -----------------------------------------------------------

_RECORD_COLUMNS = [getattr(Evidence, name) for name in Record._fields]
_INSERT_ROWS = insert(cast(Table, XapiStatement.__table__))


def _unqueued(session: Session, limit: int) -> list[Record]:
    """The next records of the kinds sent that have no outbox row yet, oldest first. The chain
    is appended in order under its lock, so what has no row is what comes after the newest row."""
    last = session.scalar(select(func.max(XapiStatement.seq))) or 0
    rows = session.execute(
        select(*_RECORD_COLUMNS)
        .where(Evidence.seq > last, Evidence.event.in_(KINDS))
        .order_by(Evidence.seq)
        .limit(limit)
    )
    return [Record(*row) for row in rows]


def outbox_rows(builder: Builder, records: Sequence[Record], now: datetime) -> list[dict[str, Any]]:
    """The outbox rows of these records: a statement queued to send now, or a row skipped (with
    why) for a record no statement can be made of, so that it is not looked at again."""
    builder.load_people(r.user_id for r in records)
    rows = []
    for record in records:
        statement = builder.statement(record)
        row: dict[str, Any] = {
            "seq": record.seq,
            "statement_id": statement_id(record.hash),
            "event": record.event,
            "user_id": record.user_id,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "sent_at": None,
        }
        if statement is None:
            row.update(state="skipped", statement="{}", last_error="no statement: the record names no person or module")
        else:
            row.update(state="queued", statement=json.dumps(statement, ensure_ascii=False), last_error=None)
        rows.append(row)
    return rows


def queue(session: Session, library: Library | None, base_url: str, steps: Steps, *, batch: int = QUEUE_BATCH) -> int:
    """Turn every record appended since the last run into outbox rows: per batch, a read of the
    records and what they name, then a short write of the rows. The number of rows added."""
    added = 0
    while True:
        with steps.read():
            builder = Builder(session, library, base_url)
            records = _unqueued(session, batch)
            rows = outbox_rows(builder, records, utcnow())
        if not rows:
            return added
        with steps.write():
            session.execute(_INSERT_ROWS, rows)
        added += len(rows)
        if len(records) < batch:
            return added


# --- the outbox: rows to the LRS -------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """Where the statements go (None: the LRS is not configured, nothing is queued or sent)."""

    url: str | None
    username: str | None = None
    password: str | None = None
    batch: int = SEND_BATCH
    timeout: float = 10.0
    base_url: str = DEFAULT_BASE_URL

    @property
    def statements_url(self) -> str:
        if not self.url:
            raise ValueError("XAPI_LRS_URL is not set")
        return self.url.rstrip("/") + "/statements"


def settings_from_config(config: Mapping[str, Any]) -> Settings:
    batch = int(config.get("XAPI_BATCH") or SEND_BATCH)
    if batch < 1:
        raise ValueError("XAPI_BATCH must be 1 or more")
    return Settings(
        url=(config.get("XAPI_LRS_URL") or "").strip() or None,
        username=config.get("XAPI_LRS_USERNAME") or None,
        password=config.get("XAPI_LRS_PASSWORD") or None,
        batch=batch,
        timeout=float(config.get("XAPI_TIMEOUT_SECONDS") or 10),
        base_url=(config.get("BASE_URL") or DEFAULT_BASE_URL).rstrip("/"),
    )


class Answer(NamedTuple):
    """What the LRS said to a POST: its HTTP status (None: no answer at all) and why, in words."""

    status: int | None
    text: str


Poster = Callable[[Settings, list[Any]], Answer]


def post(settings: Settings, statements: list[Any]) -> Answer:
    """POST statements to the LRS's statements resource (xAPI 1.0.3, basic auth)."""
    import requests  # here: only the job talks to the LRS

    auth = (settings.username or "", settings.password or "") if settings.username else None
    try:
        response = requests.post(
            settings.statements_url,
            json=statements,
            auth=auth,
            headers={"X-Experience-API-Version": XAPI_VERSION},
            timeout=settings.timeout,
        )
    except requests.RequestException as exc:
        return Answer(None, f"no answer from the LRS: {type(exc).__name__}: {exc}"[:ERROR_CHARS])
    text = f"{response.status_code} {response.reason}: {response.text.strip()}"
    return Answer(response.status_code, text[:ERROR_CHARS])


def backoff(attempts: int) -> timedelta:
    """How long to wait before the next try after ``attempts`` failed ones (1 minute, doubling,
    at most 6 hours)."""
    return min(FIRST_DELAY * 2 ** max(attempts - 1, 0), LONGEST_DELAY)


class _Due(NamedTuple):
    id: int
    statement: str
    attempts: int


@dataclass
class Outcome:
    state: str  # sent | refused | queued (to try again later)
    error: str | None = None


def _deliver(settings: Settings, rows: Sequence[_Due], poster: Poster) -> dict[int, Outcome]:
    """Each row's outcome. A refused batch is sent again one statement at a time, so that only
    the statements the LRS refuses are marked so."""
    answer = poster(settings, [json.loads(r.statement) for r in rows])
    if answer.status in (200, 204):
        return {r.id: Outcome("sent") for r in rows}
    if answer.status in REFUSALS and len(rows) > 1:
        outcomes: dict[int, Outcome] = {}
        for row in rows:
            outcomes.update(_deliver(settings, [row], poster))
        return outcomes
    if answer.status == 409:  # this id is there already (sent by an earlier run or another copy)
        return {rows[0].id: Outcome("sent", f"the LRS already had a statement with this id: {answer.text}")}
    if answer.status in REFUSALS:
        return {rows[0].id: Outcome("refused", answer.text)}
    return {r.id: Outcome("queued", answer.text) for r in rows}


@dataclass
class Report:
    queued: int = 0
    sent: int = 0
    refused: int = 0
    waiting: int = 0  # not taken this run: tried again after their backoff
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        said = (
            "xapi: "
            + ngettext("%(num)d statement queued", "%(num)d statements queued", self.queued)
            + f", {self.sent} sent, {self.refused} refused, {self.waiting} waiting to be tried again"
        )
        return said + (f"; last error: {self.errors[-1]}" if self.errors else "")


def send(
    session: Session,
    library: Library | None,
    settings: Settings,
    *,
    steps: Steps | None = None,
    poster: Poster = post,
) -> Report:
    """The job: queue the new records' statements, then send every due row, a batch per request,
    until none is due or the LRS stops answering. Each batch: a read of the due rows, the POST
    with no transaction open, a short write of the outcomes."""
    if not settings.url:
        raise ValueError("XAPI_LRS_URL is not set: nothing is queued or sent")
    steps = steps or Steps(session)
    report = Report()
    with jobs.exclusive_run(session, "xapi", "xapi send", steps):
        report.queued = queue(session, library, settings.base_url, steps)
        while True:
            with steps.read():
                due = [
                    _Due(*row)
                    for row in session.execute(
                        select(XapiStatement.id, XapiStatement.statement, XapiStatement.attempts)
                        .where(XapiStatement.state == "queued", XapiStatement.next_attempt_at <= utcnow())
                        .order_by(XapiStatement.id)
                        .limit(settings.batch)
                    )
                ]
            if not due:
                return report
            outcomes = _deliver(settings, due, poster)  # no transaction open
            with steps.write():
                _keep(session, due, outcomes, report)
            if any(o.state == "queued" for o in outcomes.values()):
                return report  # the LRS is not answering as it should: the rest waits for the next run


def _keep(session: Session, due: Sequence[_Due], outcomes: Mapping[int, Outcome], report: Report) -> None:
    now = utcnow()
    for row in due:
        outcome = outcomes[row.id]
        values: dict[str, Any] = {"attempts": row.attempts + 1, "last_error": outcome.error}
        if outcome.state == "sent":
            values.update(state="sent", sent_at=now)
            report.sent += 1
        elif outcome.state == "refused":
            values.update(state="refused")
            report.refused += 1
        else:
            values.update(next_attempt_at=now + backoff(row.attempts + 1))
            report.waiting += 1
        if outcome.error:
            report.errors.append(outcome.error)
        session.execute(
            update(XapiStatement).where(XapiStatement.id == row.id, XapiStatement.state == "queued").values(**values)
        )


# --- the admin page --------------------------------------------------------------------------


def retry(session: Session, row_id: int) -> bool:
    """Queue a refused (or waiting) statement to be sent at the next run. False if there is no
    such row, or it was sent."""
    changed = session.connection().execute(
        update(XapiStatement)
        .where(XapiStatement.id == row_id, XapiStatement.state.in_(("refused", "queued")))
        .values(state="queued", next_attempt_at=utcnow())
    )
    return bool(changed.rowcount)


def retry_refused(session: Session) -> int:
    """Queue every refused statement again; how many."""
    changed = session.connection().execute(
        update(XapiStatement).where(XapiStatement.state == "refused").values(state="queued", next_attempt_at=utcnow())
    )
    return changed.rowcount or 0


@dataclass(frozen=True)
class Overview:
    counts: dict[str, int]
    last_sent_at: datetime | None
    refused: list[XapiStatement]
    waiting: list[XapiStatement]  # queued after a failed try (the LRS down or misconfigured)
    newest_seq: int | None  # the newest record queued


def overview(session: Session, limit: int = 100) -> Overview:
    counts = dict(
        session.execute(select(XapiStatement.state, func.count()).group_by(XapiStatement.state)).tuples().all()
    )
    refused = list(
        session.scalars(
            select(XapiStatement).where(XapiStatement.state == "refused").order_by(XapiStatement.id).limit(limit)
        )
    )
    waiting = list(
        session.scalars(
            select(XapiStatement)
            .where(XapiStatement.state == "queued", XapiStatement.attempts > 0)
            .order_by(XapiStatement.id)
            .limit(limit)
        )
    )
    return Overview(
        counts={state: counts.get(state, 0) for state in ("queued", "sent", "refused", "skipped")},
        last_sent_at=session.scalar(select(func.max(XapiStatement.sent_at))),
        refused=refused,
        waiting=waiting,
        newest_seq=session.scalar(select(func.max(XapiStatement.seq))),
    )


# --- the audit package -----------------------------------------------------------------------


def statements_json(
    session: Session, records: Iterable[tuple], library: Library | None, base_url: str
) -> Iterator[str]:
    """The statements of these records (rows of ``evidence.EXPORT_COLUMNS``) as one JSON array,
    in chunks; records of kinds not sent are left out. Read a batch at a time."""
    builder = Builder(session, library, base_url)
    first = True
    yield "["
    batch: list[Record] = []

    def flush() -> Iterator[str]:
        nonlocal first
        builder.load_people(r.user_id for r in batch)
        for record in batch:
            statement = builder.statement(record)
            if statement is not None:
                yield ("\n" if first else ",\n") + json.dumps(statement, ensure_ascii=False, sort_keys=True)
                first = False
        batch.clear()

    for row in records:
        record = from_export(row)
        if record.event in VERBS:
            batch.append(record)
        if len(batch) >= 500:
            yield from flush()
    yield from flush()
    yield "\n]\n"
