"""Playing a module as a learner would, with nothing recorded: the trainers' preview.

A preview is the learner's walk (lesson screens, the checks' decisions with their choices in
the learner's shuffled order, feedback after each choice, the result) worked out from a short
list of the steps taken, not from stored attempts: nothing here touches the database. The
steps are kept by the caller (the web layer keeps them in the signed session cookie) and
replayed on every page, so "Back" is dropping the last one.

The attempt and answers this module hands back are transient ORM objects, never added to a
session: the engine's own functions (``engine.choice_values``, ``engine.result``, ...) read them
exactly as they read a learner's, so the preview shows what learners see.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from . import engine
from .content import Library, Module
from .models import Answer, Attempt, User

#: The most steps one preview keeps (each is a few bytes of the session cookie, which browsers
#: cap at 4 KB): far more than any module's lesson and checks take, even walking every loop.
MAX_STEPS = 300

#: What one step is: the next lesson screen, skipping the rest of the lesson, the lesson again
#: from the check's first question, on from an ending; or a choice's number (as written).
NEXT, SKIP, REOPEN, CONTINUE = "n", "s", "r", "c"


@dataclass(frozen=True)
class Settings:
    """Who the preview plays as: a job role, a specialty (None: general) and a work state."""

    role: str
    specialty: str | None = None
    state: str | None = None


def learner(settings: Settings) -> User:
    """A stand-in learner with these settings, for the functions that pick content for one.
    Transient: never added to a session, so never stored."""
    return User(name="Preview", job_role=settings.role, specialty=settings.specialty, work_state=settings.state)


def content_for(library: Library, module: Module, settings: Settings) -> engine.AttemptContent | None:
    """The versions a learner with these settings would start now: the specialty's variant of
    each check, else the general one (``engine.content_to_start``); None if a check is missing."""
    return engine.content_to_start(library, module, learner(settings))


def new_key() -> str:
    """The preview's secret for shuffling and naming choices, as an attempt's ``choice_key``."""
    return secrets.token_hex(8)


@dataclass
class Walk:
    """Where a preview is, after replaying its steps.

    ``attempt``: transient, with its ``answers``; ``steps``: the steps that replayed (a step the
    content no longer allows, after an edit, ends the replay there); ``answer``: the answer that
    led to the decision or ending on screen, whose feedback is shown."""

    attempt: Attempt
    steps: list[str] = field(default_factory=list)
    answer: Answer | None = None

    @property
    def finished(self) -> bool:
        return self.attempt.stage == "finished"


def replay(content: engine.AttemptContent, key: str, steps: list[str]) -> Walk:
    """Walk ``content`` through ``steps`` from the first lesson screen, by the learner's rules."""
    attempt = Attempt(
        module_id=content.module.id,
        number=0,
        module_version=content.module.version,
        policy_version=content.module.policy_version,
        stage="lesson",
        screen=0,
        scenario_index=0,
        node_id=None,
        step=0,
        choice_key=key,
        score=None,
        passed=None,
    )
    walk = Walk(attempt)
    if not content.module.screens:  # cannot happen with validated content; start at the check
        _to_the_check(attempt, content)
    for step in steps[:MAX_STEPS]:
        answer = _apply(attempt, content, step)
        if answer is False:
            break
        walk.steps.append(step)
        attempt.step += 1
        walk.answer = answer if isinstance(answer, Answer) else None
    return walk


def _to_the_check(attempt: Attempt, content: engine.AttemptContent) -> None:
    attempt.stage = "scenario"
    attempt.scenario_index = 0
    attempt.node_id = content.scenario(0).start


def _apply(attempt: Attempt, content: engine.AttemptContent, step: str) -> Answer | bool:
    """Take one step; False if it cannot be taken from here, the new answer for a choice."""
    stage = attempt.stage
    if step == NEXT and stage == "lesson":
        attempt.screen += 1
        if attempt.screen >= len(content.module.screens):
            _to_the_check(attempt, content)
        return True
    if step == SKIP and stage == "lesson":
        _to_the_check(attempt, content)
        return True
    if step == REOPEN and engine.can_reopen_lesson(attempt, content):
        attempt.stage, attempt.screen, attempt.node_id = "lesson", 0, None
        return True
    if step == CONTINUE and stage == "ending":
        if attempt.scenario_index + 1 < len(content.scenarios):
            attempt.scenario_index += 1
            attempt.node_id = content.scenario(attempt.scenario_index).start
            attempt.stage = "scenario"
        else:
            _finish(attempt, content)
        return True
    if step.isdigit() and stage == "scenario":
        return _choose(attempt, content, int(step))
    return False


def _choose(attempt: Attempt, content: engine.AttemptContent, number: int) -> Answer | bool:
    """A choice, graded as ``engine.plan_choice`` and ``engine.record_choice`` grade it."""
    scenario = content.scenario(attempt.scenario_index)
    node = engine.current_node(attempt, content)
    choice = node.choice(number)
    if choice is None:
        return False
    first_visit = not any(a.scenario_index == attempt.scenario_index and a.node_id == node.id for a in attempt.answers)
    answer = Answer(
        step=attempt.step,
        scenario_index=attempt.scenario_index,
        scenario_id=scenario.id,
        scenario_version=scenario.version,
        node_id=node.id,
        objective=node.objective,
        choice_number=choice.number,
        to_node=choice.target,
        first_visit=first_visit,
        points=choice.points if first_visit else 0,
        correct=choice.correct,
        critical=choice.critical,
    )
    attempt.answers.append(answer)
    attempt.node_id = choice.target
    if scenario.nodes[choice.target].is_ending:
        attempt.stage = "ending"
    return answer


def _finish(attempt: Attempt, content: engine.AttemptContent) -> None:
    """Graded as ``engine._finish`` grades a learner's attempt."""
    total = sum(a.points for a in attempt.answers)
    attempt.score = total
    attempt.passed = total >= content.module.pass_score and not any(a.critical for a in attempt.answers)
    attempt.stage = "finished"
