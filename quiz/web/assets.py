"""Static files under content-hashed names, cached for a year.

``asset_url('style.css')`` gives ``/assets/style.3f2a9c1b.css``; a changed file gets a new name,
so browsers can keep every version forever and never see a stale one.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, abort, current_app, send_from_directory, url_for

from .units import reads

bp = Blueprint("assets", __name__)
ONE_YEAR = 365 * 24 * 3600


@lru_cache(maxsize=256)
def _digest(path: Path, mtime_ns: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def _static_folder() -> str:
    folder = current_app.static_folder
    if folder is None:  # create_app always sets one
        raise RuntimeError("the app has no static folder")
    return folder


def _file(name: str) -> Path:
    root = Path(_static_folder()).resolve()
    path = (root / name).resolve()
    if root not in path.parents or not path.is_file():
        abort(404)
    return path


@lru_cache(maxsize=64)
def _named_in_template(static_folder: str, name: str) -> Path:
    """A template's asset, resolved once per process: names in templates are fixed, and
    resolving a path costs a system call per folder on every page."""
    return _file(name)


def asset_url(name: str) -> str:
    path = _named_in_template(current_app.static_folder, name)
    try:
        mtime_ns = path.stat().st_mtime_ns  # still checked on every page: an edit gets a new name
    except OSError:
        abort(404)
    stem, dot, ext = name.rpartition(".")
    hashed = f"{stem}.{_digest(path, mtime_ns)}.{ext}" if dot else name
    return url_for("assets.serve", hashed=hashed)


@bp.get("/assets/<path:hashed>")
@reads
def serve(hashed: str):
    stem, _, ext = hashed.rpartition(".")
    name, _, digest = stem.rpartition(".")
    path = _file(f"{name}.{ext}")
    if digest != _digest(path, path.stat().st_mtime_ns):
        abort(404)  # an old name: the page that asked for it is stale
    response = send_from_directory(_static_folder(), f"{name}.{ext}", max_age=ONE_YEAR)
    response.cache_control.immutable = True
    response.cache_control.public = True
    return response
