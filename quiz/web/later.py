"""Work done after the response has gone: handing an email to the SMTP server, say, so that
neither the answer nor its time waits for (or tells anything about) the server.

The WSGI server closes the response once it has sent it (gunicorn, werkzeug; Flask's test
client with ``buffered=True``), and ``after_the_response`` runs the work then, in an app context
and a unit of work of its own that reads then writes (its steps take their own transactions:
docs/architecture.md, "Transactions"). The request's own transaction was committed before.
A failure is logged, never raised: the response has gone, and what the work keeps (the outbox)
says what became of it.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import after_this_request, current_app

from ..db import READS_THEN_WRITES, db, unit_of_work


def after_the_response(work: Callable[[], None], what: str) -> None:
    """Run ``work()`` once this request's response has been sent; ``what`` names it in the log."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def run() -> None:
        with app.app_context():
            try:
                with unit_of_work(db.session, READS_THEN_WRITES):
                    work()
            except Exception:  # noqa: BLE001  (the response has gone: log it, the outbox keeps the rest)
                app.logger.exception("after the response: %s failed", what)
        # (the app context's end removes its session)

    @after_this_request
    def close_then_run(response):
        response.call_on_close(run)
        return response
