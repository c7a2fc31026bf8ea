"""Who may open which area. Learners only ever see their own records."""

from __future__ import annotations

from flask import abort
from flask_login import current_user, login_required


def require_role(*roles: str):
    """Blueprint ``before_request`` guard: signed in, and one of these account roles."""

    @login_required
    def guard():
        if current_user.role not in roles:
            abort(403)
        return None

    return guard
