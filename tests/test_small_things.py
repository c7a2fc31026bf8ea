"""Small things (issue 30, part 7): every page names its icons (a favicon, SVG with an ICO beside
it, a home-screen icon) and a web manifest, all served from static under hashed names with a
long cache (and /favicon.ico where browsers look whatever a page says: no 404 on every page);
and the authoring guide (docs/authoring.md) is a page for trainers, rendered and cleaned as
lessons are, linked from the Content and Try pages. The outbox on a phone: tests/browser."""

from __future__ import annotations

import json
import re
import tomllib

from quiz.config import PROJECT_ROOT
from quiz.db import db
from quiz.models import User
from quiz.web import author

from .helpers import add_user, close_app, make_app, sign_in, signed_in_as

ONE_YEAR = "max-age=31536000"


def _links(html: str) -> dict[str, list[str]]:
    """rel -> the hrefs of the page's <link> elements."""
    found: dict[str, list[str]] = {}
    for tag in re.findall(r"<link [^>]+>", html):
        rel, href = re.search(r'rel="([^"]+)"', tag)[1], re.search(r'href="([^"]+)"', tag)[1]
        found.setdefault(rel, []).append(href)
    return found


def test_every_page_names_its_icons_and_manifest_with_a_long_cache(app):
    client = app.test_client()
    links = _links(client.get("/auth/login").text)
    icons = links["icon"]
    assert [re.sub(r"\.[0-9a-f]{12}\.", ".", href) for href in icons] == [
        "/assets/icons/favicon.ico",
        "/assets/icons/icon.svg",
    ]
    (touch,) = links["apple-touch-icon"]
    (manifest_url,) = links["manifest"]
    for href, kind in [(icons[0], "image/"), (icons[1], "image/svg+xml"), (touch, "image/png")]:
        response = client.get(href)
        assert response.status_code == 200 and response.mimetype.startswith(kind), href
        assert ONE_YEAR in response.headers["Cache-Control"] and "immutable" in response.headers["Cache-Control"]
    assert client.get(touch).data.startswith(b"\x89PNG")

    response = client.get(manifest_url)
    assert response.status_code == 200
    assert response.mimetype == "application/manifest+json"
    assert ONE_YEAR in response.headers["Cache-Control"] and "immutable" in response.headers["Cache-Control"]
    manifest = json.loads(response.data)
    assert (manifest["name"], manifest["start_url"], manifest["display"]) == ("Rounds", "/", "standalone")
    sizes = {icon["sizes"]: icon["src"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes.keys()
    for src in manifest["icons"]:
        assert client.get(src["src"]).status_code == 200, src
    # A manifest named by an old hash is not served (the page that names it is stale).
    assert client.get(re.sub(r"\.[0-9a-f]{12}\.", ".000000000000.", manifest_url)).status_code == 404


def test_the_icons_are_where_browsers_look_for_them_by_name(app):
    client = app.test_client()
    favicon = client.get("/favicon.ico")
    assert favicon.status_code == 200 and favicon.data[:4] == b"\x00\x00\x01\x00"  # an ICO file
    assert "max-age=604800" in favicon.headers["Cache-Control"] and "no-store" not in favicon.headers["Cache-Control"]
    for path in ("/apple-touch-icon.png", "/apple-touch-icon-precomposed.png"):
        response = client.get(path)
        assert response.status_code == 200 and response.data.startswith(b"\x89PNG"), path


def test_icons_are_served_before_a_new_password_is_chosen(app):
    # Someone whose password an admin set sees only the password page: their browser still
    # gets its icons (not a redirect to that page).
    uid = add_user(app, email="new@example.org", name="New Person")
    with app.app_context():
        db.session.get(User, uid).password_must_change = True
        db.session.commit()
    client = app.test_client()
    sign_in(client, "new@example.org")
    assert client.get("/manage/").status_code in (302, 303)  # the premise: pages wait
    assert client.get("/favicon.ico").status_code == 200


def test_icons_are_served_before_a_second_factor_is_set_up(database_url, tmp_path, monkeypatch):
    app = make_app(database_url, tmp_path, monkeypatch, MFA_ROLES="trainer")
    try:
        add_user(app, email="trainer@example.org", name="Terry Trainer", role="trainer", job_role="leadership")
        client = app.test_client()
        sign_in(client, "trainer@example.org")
        assert client.get("/author/guide").status_code in (302, 303)  # the premise: pages wait
        assert client.get("/favicon.ico").status_code == 200
        manifest = _links(app.test_client().get("/auth/login").text)["manifest"][0]
        assert client.get(manifest).status_code == 200
    finally:
        close_app(app)


def test_the_authoring_guide_is_a_page_for_trainers(app):
    client = signed_in_as(app, "trainer")
    page = client.get("/author/guide")
    assert page.status_code == 200
    html = page.text
    assert "<title>Authoring guide" in html
    assert '<h1 id="authoring-guide-for-trainers">Authoring guide for trainers</h1>' in html
    # The guide's links to its own sections land: its headings keep their ids.
    assert 'href="#what-content-check-catches"' in html and 'id="what-content-check-catches"' in html
    assert 'id="house-standards"' in html
    # Reached from the Content and Try pages.
    for path in ("/author/", "/author/try"):
        assert 'href="/author/guide"' in client.get(path).text, path


def test_the_guide_is_only_for_trainers_and_admins(app):
    assert signed_in_as(app, "admin").get("/author/guide").status_code == 200
    learner = app.test_client()
    add_user(app, email="learner@example.org")
    sign_in(learner, "learner@example.org")
    assert learner.get("/author/guide").status_code == 403


def test_the_guide_is_cleaned_as_lessons_are(app, tmp_path, monkeypatch):
    guide = tmp_path / "authoring.md"
    guide.write_text(
        "# A guide\n\n<script>alert(1)</script>\n\n[x](javascript:alert(2)) <b onclick=x>bold</b>\n", encoding="utf-8"
    )
    monkeypatch.setattr(author, "GUIDE", guide)
    html = signed_in_as(app, "trainer").get("/author/guide").text
    assert '<h1 id="a-guide">A guide</h1>' in html
    assert "alert(" not in html and "onclick" not in html
    monkeypatch.setattr(author, "GUIDE", tmp_path / "missing.md")
    assert signed_in_as(app, "admin").get("/author/guide").status_code == 404


def test_the_guide_is_found_where_an_install_from_the_repository_runs():
    # `make run` installs the checkout in place (pip install -e): the package's PROJECT_ROOT is
    # the repository, with docs/ beside quiz/, templates/ and static/.
    assert tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["name"] == "rounds-quiz"
    assert author.GUIDE == PROJECT_ROOT / "docs" / "authoring.md" and author.GUIDE.is_file()
