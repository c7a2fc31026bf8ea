"""Static files under content-hashed names, cached for a year.

``asset_url('style.css')`` gives ``/assets/style.3f2a9c1b.css``; a changed file gets a new name,
so browsers can keep every version forever and never see a stale one.

The icons (``static/icons/``, made by its ``make_icons.py``) are assets too, named in every page
(base.html); so is the web manifest, made here because it names the icons' hashed names, and
itself named by the hash of what it says. ``/favicon.ico`` and ``/apple-touch-icon.png`` are
also where some browsers and crawlers look whatever a page says: they are there, cached a week.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, send_from_directory, url_for

from .units import reads

bp = Blueprint("assets", __name__)
ONE_YEAR = 365 * 24 * 3600
#: For the icons at fixed addresses (/favicon.ico): a changed icon reaches browsers within a week.
ONE_WEEK = 7 * 24 * 3600
MANIFEST_TYPE = "application/manifest+json"


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


def _manifest() -> bytes:
    """The web manifest: the app's name, colors and icons, for a phone's home screen."""
    icons = [
        {"src": asset_url("icons/icon-192.png"), "sizes": "192x192", "type": "image/png"},
        {"src": asset_url("icons/icon-512.png"), "sizes": "512x512", "type": "image/png"},
        {"src": asset_url("icons/icon.svg"), "sizes": "any", "type": "image/svg+xml"},
    ]
    manifest = {
        "name": "Rounds",
        "short_name": "Rounds",
        "description": "HIPAA workforce training",
        "start_url": url_for("index"),
        "scope": url_for("index"),
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#0b5394",  # style.css --brand
        "icons": icons,
    }
    return json.dumps(manifest, indent=2, sort_keys=True).encode()


def _manifest_digest(text: bytes) -> str:
    return hashlib.sha256(text).hexdigest()[:12]


def manifest_url() -> str:
    """The manifest's address, named by the hash of what it says (as asset_url names a file)."""
    return url_for("assets.manifest", digest=_manifest_digest(_manifest()))


@bp.get("/assets/manifest.<digest>.webmanifest")
@reads
def manifest(digest: str):
    text = _manifest()
    if digest != _manifest_digest(text):
        abort(404)  # an old name: the page that asked for it is stale
    response = Response(text, mimetype=MANIFEST_TYPE)
    response.cache_control.max_age = ONE_YEAR
    response.cache_control.immutable = True
    response.cache_control.public = True
    return response


#: Where browsers and crawlers look for an icon by name, and the file each gets.
ICONS_BY_NAME = {
    "favicon.ico": "favicon.ico",
    "apple-touch-icon.png": "apple-touch-icon.png",
    "apple-touch-icon-precomposed.png": "apple-touch-icon.png",
}


@bp.get("/<any(" + ", ".join(f"'{name}'" for name in ICONS_BY_NAME) + "):name>")
@reads
def icon(name: str):
    """The icons where browsers look for them by name (a page names them by their hashed names)."""
    response = send_from_directory(Path(_static_folder()) / "icons", ICONS_BY_NAME[name], max_age=ONE_WEEK)
    response.cache_control.public = True
    return response
