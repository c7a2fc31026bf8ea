"""The module page as learners see it (``learn/module.html``): its forms and the page model the
template reads. Shared by the learner's pages (``learn``) and a trainer's preview of them
(``preview``), so that what a trainer plays is what a learner gets; imports no blueprint.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask_wtf import FlaskForm
from wtforms import IntegerField, RadioField
from wtforms.validators import InputRequired
from wtforms.widgets import HiddenInput

from .. import assignments, engine
from ..content import Choice, Module
from ..models import Attempt

PAGE = "learn/module.html"


class StepForm(FlaskForm):
    step = IntegerField(widget=HiddenInput(), validators=[InputRequired()])


class AnswerForm(StepForm):
    # The values are the attempt's codes for its choices (engine.choice_values); the view
    # names the choice a code stands for, or says the page was older than the question.
    choice = RadioField("Your choice", validators=[InputRequired("Choose one answer.")], validate_choice=False)


@dataclass
class Page:
    """Everything the module page template shows, worked out once here."""

    module: Module
    view: str  # overview | lesson | question | ending | acknowledge
    status: engine.ModuleStatus
    attempt: Attempt | None = None  # (a preview's is never saved)
    content: engine.AttemptContent | None = None
    forms: dict = field(default_factory=dict)
    feedback: Choice | None = None
    feedback_answer: object | None = None
    result: engine.Result | None = None  # of the attempt to sign, or of the last one failed
    lesson: engine.LessonRead | None = None  # on a lesson screen: what was read, here and before
    last_finished: Attempt | None = None
    certificate: Attempt | None = None  # the latest signed attempt, if any
    offered: bool = True  # False: no longer in the library, so it cannot be started again
    announcement: str = ""
    state_statement: assignments.SignedStatement | None = None  # what signing also is, by state law

    @property
    def screen(self):
        return self.content.module.screens[self.attempt.screen]

    @property
    def node(self):
        return engine.current_node(self.attempt, self.content)

    @property
    def reopen_lesson(self) -> bool:
        """Offer "Read the lesson again": at the check's first question, before any answer (an
        answer that led back there would be shown as feedback)."""
        return self.view == "question" and self.feedback is None and engine.can_reopen_lesson(*self.taking())

    @property
    def has_errors(self) -> bool:
        """Whether a form on the page was refused (its title then starts with "Error: ")."""
        return any(form.errors for form in self.forms.values())

    def choices(self) -> list[tuple[str, str]]:
        """(value, label) of each choice, in the learner's order."""
        return [(value, c.label) for value, c in engine.choice_values(*self.taking())]

    def taking(self) -> tuple[Attempt, engine.AttemptContent]:
        """The attempt shown and its content: every view but the overview has both."""
        if self.attempt is None or self.content is None:
            raise LookupError(f"the {self.view} view shows no attempt")
        return self.attempt, self.content
