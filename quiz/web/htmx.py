"""The one place that imports htmx-flask (docs/architecture.md, "htmx"): partial or full page,
redirects and error pages that work for htmx requests too."""

from __future__ import annotations

from flask import Response, redirect, render_template
from htmx_flask import Htmx, make_response, request
from jinja2_fragments.flask import render_blocks
from werkzeug.wrappers import Response as BaseResponse

htmx = Htmx()


def is_htmx() -> bool:
    """Any request htmx made (a fragment, a history restore, ...)."""
    return bool(request.htmx)


def is_partial() -> bool:
    """An htmx request that wants a fragment (history restores need the full page)."""
    return is_htmx() and not request.htmx.history_restore_request


def page_or_blocks(template: str, blocks: list[str], **context) -> Response:
    """The full page, or just the named blocks of the same template for htmx."""
    context["partial"] = is_partial()
    if context["partial"]:
        response = make_response(render_blocks(template, blocks, **context))
    else:
        response = make_response(render_template(template, **context))
    response.vary.add("HX-Request")
    return response


def redirect_anywhere(url: str) -> BaseResponse:
    """A redirect that also works when the request came from htmx (it would swap the page in)."""
    if request.htmx:
        return make_response("", 200, redirect=url)
    return redirect(url, code=303)


def error_page(status: int, title: str, message: str) -> Response:
    """The error page; for an htmx request, an order to reload the page instead: htmx does not
    swap error responses, so the learner would see nothing happen. The reload shows where they
    are (the page again, the sign-in page, or this error as a full page). Nothing is rendered
    for htmx, so a message flashed for the reload is still there to show."""
    if request.htmx:
        return make_response("", status, refresh=True)
    return make_response(render_template("error.html", title=title, message=message), status)
