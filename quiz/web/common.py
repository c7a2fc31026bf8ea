"""What every blueprint of the web layer shares: the content being served, the curricula, and
the admin area's list of page groups.

Blueprints import these from here, never from ``quiz.web`` (whose ``__init__`` builds the web
part of the app and imports every blueprint), and never from one another
(docs/architecture.md, "Layers").
"""

from __future__ import annotations

from pathlib import Path

from flask import current_app

from ..content import Library

#: (endpoint, title, description) of each admin page group; page modules append to it.
ADMIN_SECTIONS: list[tuple[str, str, str]] = []


def library() -> Library:
    """The current content, kept up to date with the files on disk (see ContentStore)."""
    return current_app.extensions["content_store"].library


def curricula():
    """The curricula file, re-read only when it changes (cheap: one small YAML file)."""
    from ..content.curricula import FILENAME, load_curricula

    path = Path(current_app.config["CONTENT_DIR"]) / FILENAME
    stamp = path.stat().st_mtime_ns if path.exists() else 0
    cached = current_app.extensions.get("curricula")
    if cached is None or cached[0] != stamp:
        loaded, errors = load_curricula(Path(current_app.config["CONTENT_DIR"]), library())
        for err in errors:
            current_app.logger.error("curricula: %s", err)
        cached = (stamp, loaded)
        current_app.extensions["curricula"] = cached
    return cached[1]

