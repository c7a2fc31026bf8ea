"""Accounts and the security baseline: hashing, CSRF, cookies, sign-in, idle timeout, CSP."""

from __future__ import annotations

import re
import time
from pathlib import Path

from sqlalchemy import func, select

from quiz import config
from quiz.db import db
from quiz.models import Answer, User

from .helpers import PASSWORD, add_user, at_a_question, csrf_token, make_app, post_an_answer, sign_in


def test_passwords_are_stored_as_argon2id(app):
    uid = add_user(app)
    with app.app_context():
        stored = db.session.get(User, uid).password_hash
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_wrong_password_and_unknown_email_get_the_same_answer(app, client):
    add_user(app)
    wrong_password = sign_in(client, password="not the password at all")
    unknown_email = sign_in(client, email="nobody@example.org")
    assert wrong_password.status_code == unknown_email.status_code == 401
    message = "That email and password do not match an account we can sign you in to."
    assert message in wrong_password.text and message in unknown_email.text


def test_session_id_changes_at_sign_in_and_cookie_flags(app, client):
    add_user(app)
    client.get("/auth/login")
    before = client.get_cookie("session").value
    response = sign_in(client)
    after = client.get_cookie("session")
    assert after.value != before
    cookie_header = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie_header and "SameSite=Lax" in cookie_header


def test_secure_cookie_behind_https(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("HTTPS", "1")
    app = make_app(database_url, tmp_path, monkeypatch)
    add_user(app)
    client = app.test_client()
    response = sign_in(client)
    cookie = response.headers["Set-Cookie"]
    # __Host-: the browser takes it only Secure, for Path=/, with no Domain (no subdomain can set it)
    assert cookie.startswith("__Host-session=") and "; Secure" in cookie and "; Path=/;" in cookie
    assert "Domain=" not in cookie and client.get_cookie("session") is None


def test_forms_without_csrf_token_are_refused(app, client):
    add_user(app)
    response = client.post("/auth/login", data={"email": "learner@example.org", "password": PASSWORD})
    assert response.status_code == 400 and "expired" in response.text


def test_an_expired_form_sent_with_htmx_reloads_the_page_and_says_why(app, client):
    """Signed in, but the form's token is from before (signed in again since it opened): htmx
    does not swap error responses, so without a reload the learner would see nothing happen."""
    add_user(app)
    sign_in(client)
    response = client.post(
        "/learn/test-callers/answer",
        data={"step": "3", "choice": "1", "csrf_token": "stale"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 400 and response.headers["HX-Refresh"] == "true"
    assert response.text == ""  # nothing rendered, so the message waits for the reload
    reloaded = client.get("/learn/")
    assert "That was not recorded: the page had expired" in reloaded.text


def test_a_form_sent_with_htmx_after_signing_out_goes_to_sign_in_and_back(app, client):
    """Signed out in another tab: one trip to the sign-in page (not a reload first), one message."""
    add_user(app)
    sign_in(client)
    client.post("/auth/logout", data={"csrf_token": csrf_token(client.get("/learn/").text)})
    assert "You are signed out." in client.get("/auth/login").text  # that tab's own message, shown
    response = client.post(
        "/learn/test-callers/answer",
        data={"step": "3", "choice": "1", "csrf_token": "stale"},
        headers={"HX-Request": "true", "HX-Current-URL": "http://localhost/learn/test-callers/"},
    )
    assert response.headers["HX-Redirect"] == "/auth/login?next=/learn/test-callers/"
    login = client.get("/auth/login").text
    assert login.count('class="flash') == 1, "one message, not two"
    assert "You were signed out (in another tab, or the page was open too long)." in login
    assert "What you just sent was not recorded" in login


def test_error_pages_reload_an_htmx_page_and_stay_pages_without_it(app, client):
    add_user(app)
    sign_in(client)
    page = client.get("/learn/")
    data = {"csrf_token": csrf_token(page.text), "step": "0"}
    plain = client.post("/learn/no-such-module/start", data=data)
    assert plain.status_code == 404 and "HX-Refresh" not in plain.headers and "Not found" in plain.text
    htmx = client.post("/learn/no-such-module/start", data=data, headers={"HX-Request": "true"})
    assert htmx.status_code == 404 and htmx.headers["HX-Refresh"] == "true" and htmx.text == ""


def test_pages_carry_a_self_only_content_security_policy(client):
    headers = client.get("/auth/login").headers
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"


def test_learning_pages_need_sign_in(client):
    response = client.get("/learn/")
    assert response.status_code == 303 or response.status_code == 302
    assert "/auth/login" in response.headers["Location"]
    # and the sign-in page says where a password comes from: an emailed link (tests/test_invitations.py)
    page = client.get(response.headers["Location"]).text
    assert 'href="/auth/forgot">Forgotten your password, or never had one?</a>' in page


def test_next_redirect_only_to_same_site_paths(app, client):
    add_user(app)
    page = client.get("/auth/login")
    data = {"email": "learner@example.org", "password": PASSWORD, "csrf_token": csrf_token(page.text)}
    response = client.post("/auth/login?next=https://evil.example/x", data=data)
    assert response.headers["Location"] == "/learn/"
    client.post("/auth/logout", data={"csrf_token": csrf_token(client.get("/learn/").text)})
    page = client.get("/auth/login")
    data["csrf_token"] = csrf_token(page.text)
    response = client.post("/auth/login?next=/learn/test-callers/", data=data)
    assert response.headers["Location"] == "/learn/test-callers/"


def test_logout_ends_a_copied_session_cookie(app, client):
    add_user(app)
    sign_in(client)
    stolen = client.get_cookie("session").value
    client.post("/auth/logout", data={"csrf_token": csrf_token(client.get("/learn/").text)})
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    response = thief.get("/learn/")
    assert response.status_code in (302, 303) and "/auth/login" in response.headers["Location"]


def test_idle_session_ends_after_the_configured_minutes(app, client, monkeypatch):
    add_user(app)
    sign_in(client)
    assert client.get("/learn/").status_code == 200
    copied = client.get_cookie("session").value
    later = time.time() + 16 * 60
    monkeypatch.setattr(time, "time", lambda: later)
    response = client.get("/learn/")
    assert response.status_code in (302, 303) and "/auth/login" in response.headers["Location"]
    assert "signed out after a period of inactivity" in client.get("/auth/login").text
    # the server ended it: a copy of the cookie taken before does not help either
    thief = app.test_client()
    thief.set_cookie("session", copied)
    response = thief.get("/learn/")
    assert response.status_code in (302, 303) and "/auth/login" in response.headers["Location"]


def test_an_active_learner_stays_signed_in_and_the_cookie_is_resent_only_when_a_second_has_passed(
    app, client, monkeypatch
):
    add_user(app)
    sign_in(client)
    start = int(time.time()) + 1
    clock = {"now": start}
    monkeypatch.setattr(time, "time", lambda: clock["now"])
    client.get("/learn/")
    # within the same second: the session is unchanged, so no new cookie is signed and sent
    clock["now"] = start + 0.5
    assert "Set-Cookie" not in client.get("/learn/").headers
    # a request every 10 minutes keeps the learner signed in well past 15 minutes
    for minutes in (10, 20, 30):
        clock["now"] = start + minutes * 60
        response = client.get("/learn/")
        assert response.status_code == 200, minutes
        assert "Set-Cookie" in response.headers  # last seen moved on


# The idle limit's boundary, to the second, and the record of an idle end: tests/test_actors.py.


def _sign_out_everywhere(app):
    from quiz import accounts

    with app.app_context():
        accounts.end_all_sessions(db.session.scalars(select(User)).one())
        db.session.commit()


def test_an_answer_sent_after_being_signed_out_elsewhere_leads_back_to_its_page(app, client):
    """Not to the answer's address, which a redirect after sign-in cannot POST to (405)."""
    page = at_a_question(app, client)
    _sign_out_everywhere(app)
    response = post_an_answer(client, page, Referer="http://localhost/learn/test-callers/")
    assert response.headers["Location"] == "/auth/login?next=/learn/test-callers/"
    login = client.get(response.headers["Location"]).text
    assert "You were signed out. What you just sent was not recorded: send it again once you are back." in login
    data = {"email": "learner@example.org", "password": PASSWORD, "csrf_token": csrf_token(login)}
    back = client.post(response.headers["Location"], data=data)
    assert back.headers["Location"] == "/learn/test-callers/"
    assert "The phone rings" in client.get(back.headers["Location"]).text  # the same question
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Answer)) == 0


def test_with_htmx_the_page_to_come_back_to_is_the_one_htmx_names(app, client):
    page = at_a_question(app, client)
    _sign_out_everywhere(app)
    response = post_an_answer(
        client, page, **{"HX-Request": "true", "HX-Current-URL": "http://localhost/learn/test-callers/"}
    )
    assert response.headers["HX-Redirect"] == "/auth/login?next=/learn/test-callers/"


def test_an_answer_sent_after_the_session_expired_leads_to_sign_in_and_back(app, client):
    """The cookie has expired (the page was left open), so the form's CSRF token no longer
    matches any session: without JavaScript, straight to sign-in and back, not a dead end."""
    page = at_a_question(app, client)
    client.delete_cookie("session")
    response = post_an_answer(client, page, Referer="http://localhost/learn/test-callers/")
    assert response.status_code == 303
    assert response.headers["Location"] == "/auth/login?next=/learn/test-callers/"
    login = client.get(response.headers["Location"]).text
    assert (
        "You were signed out (in another tab, or the page was open too long). What you just sent was not recorded"
        in login
    )
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Answer)) == 0


def test_a_signed_in_learner_sending_a_bad_form_token_gets_the_expired_page(app, client):
    """Signed in, the token cannot be an ended session's: a page, not a sign-in."""
    at_a_question(app, client)
    response = client.post("/learn/test-callers/answer", data={"csrf_token": "stale", "step": "4", "choice": "1"})
    assert response.status_code == 400 and "This form has expired" in response.text


def test_a_form_from_another_site_names_no_page_to_come_back_to(app, client):
    page = at_a_question(app, client)
    _sign_out_everywhere(app)
    response = post_an_answer(client, page, Referer="https://evil.example/learn/test-callers/")
    assert response.headers["Location"] == "/auth/login"


def test_idle_sign_out_comes_back_to_the_page_after_sign_in(app, client, monkeypatch):
    page = at_a_question(app, client)
    later = time.time() + 15 * 60 + 1  # idle past the limit
    monkeypatch.setattr(time, "time", lambda: later)
    response = post_an_answer(client, page, Referer="http://localhost/learn/test-callers/")
    assert response.headers["Location"] == "/auth/login?next=/learn/test-callers/"
    login = client.get(response.headers["Location"]).text
    assert "signed out after a period of inactivity" in login and "was not recorded" in login
    assert client.get("/learn/test-callers/").headers["Location"] == "/auth/login?next=/learn/test-callers/"


def test_a_refused_sign_in_says_error_first_in_the_title(app, client):
    add_user(app)
    assert "<title>Sign in · Rounds</title>" in client.get("/auth/login").text
    refused = sign_in(client, password="wrong password here")
    assert refused.status_code == 401 and "do not match" in refused.text
    assert "<title>Error: Sign in · Rounds</title>" in refused.text
    empty = client.post("/auth/login", data={"csrf_token": csrf_token(client.get("/auth/login").text)})
    assert "<title>Error: Sign in · Rounds</title>" in empty.text


def test_account_locks_after_repeated_failures(app, client):
    app.config["LOGIN_LOCKOUT_FAILURES"] = 3
    add_user(app)
    for _ in range(3):
        assert sign_in(client, password="wrong password here").status_code == 401
    # the right password no longer works during the lockout, and the answer looks the same
    response = sign_in(client)
    assert response.status_code == 401 and "do not match" in response.text
    with app.app_context():
        assert db.session.scalar(select(User.locked_until)) is not None


def test_sign_in_attempts_are_rate_limited(database_url, tmp_path, monkeypatch):
    app = make_app(database_url, tmp_path, monkeypatch, RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="3 per minute")
    client = app.test_client()
    codes = [sign_in(client, email=f"x{i}@example.org").status_code for i in range(4)]
    assert codes == [401, 401, 401, 429]


def test_only_failed_sign_ins_count_against_an_address(database_url, tmp_path, monkeypatch):
    """Staff share one address behind a hospital's router: their sign-ins must not add up."""
    app = make_app(database_url, tmp_path, monkeypatch, RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="3 per minute")
    for i in range(5):
        add_user(app, email=f"nurse{i}@example.org", name=f"Nurse {i}")
    codes = []
    for i in range(5):
        client = app.test_client()  # five people, one address
        codes.append(sign_in(client, email=f"nurse{i}@example.org").status_code)
    assert codes == [303] * 5
    client = app.test_client()
    codes = [sign_in(client, email="nurse0@example.org", password="wrong password here").status_code for _ in range(3)]
    assert codes == [401, 401, 401]
    assert sign_in(app.test_client(), email="nurse1@example.org").status_code == 429  # now the address waits


def test_a_deactivated_account_cannot_sign_in(app, client):
    uid = add_user(app)
    with app.app_context():
        db.session.get(User, uid).active = False
        db.session.commit()
    assert sign_in(client).status_code == 401


def test_rendered_markdown_cannot_inject_script(app):
    from quiz.content import render_markdown

    html = render_markdown('<script>alert(1)</script> [x](javascript:alert(1)) <a onclick="x()">y</a>')
    assert "<script" not in html and "javascript:" not in html and "onclick" not in html


def test_static_files_have_hashed_names_and_long_cache_lifetimes(client):
    import re

    page = client.get("/auth/login").text
    css = re.search(r'href="(/assets/style\.[0-9a-f]{12}\.css)"', page)
    js = re.search(r'src="(/assets/vendor/htmx-2\.0\.11\.min\.[0-9a-f]{12}\.js)"', page)
    assert css and js
    response = client.get(css.group(1))
    assert response.status_code == 200 and "max-age=31536000" in response.headers["Cache-Control"]
    assert "immutable" in response.headers["Cache-Control"]
    assert client.get("/assets/style.000000000000.css").status_code == 404
    assert client.get("/assets/..%2Fquiz%2Fconfig.000000000000.py").status_code == 404


def test_an_edited_static_file_gets_a_new_name_and_the_old_one_is_gone(app, tmp_path, monkeypatch):
    """Templates' asset paths are resolved once per process; the file's change time is still
    checked on every page, so an edit is served under a new name at once."""
    import os
    import shutil

    from quiz.web.assets import asset_url

    shutil.copytree(app.static_folder, tmp_path / "static")
    css = tmp_path / "static" / "style.css"
    monkeypatch.setattr(app, "static_folder", str(tmp_path / "static"))
    client = app.test_client()
    with app.test_request_context("/"):
        before = asset_url("style.css")
        css.write_text("body { color: navy }")
        os.utime(css, ns=(css.stat().st_atime_ns, css.stat().st_mtime_ns + 1_000_000_000))
        after = asset_url("style.css")
    assert before != after
    assert client.get(after).data == b"body { color: navy }"
    assert client.get(before).status_code == 404


def test_the_password_check_does_not_hold_sqlite_write_lock(tmp_path, monkeypatch):
    """100 people signing in at once used to queue on the write lock behind each other's
    ~100 ms hash checks until one got 'database is locked'. Now the check runs in a read
    transaction: another writer can take the lock while it runs."""
    import sqlite3

    from quiz import accounts

    path = tmp_path / "lock.sqlite3"
    app = make_app(f"sqlite:///{path}", tmp_path, monkeypatch)
    add_user(app)
    real_verify = accounts._verify
    seen = []

    def verify_while_probing(stored, password):
        probe = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            seen.append("lock was free")
        except sqlite3.OperationalError as exc:
            seen.append(str(exc))
        finally:
            probe.close()
        return real_verify(stored, password)

    monkeypatch.setattr(accounts, "_verify", verify_while_probing)
    response = sign_in(app.test_client())
    assert response.status_code == 303
    assert seen == ["lock was free"]


def test_the_generated_secret_key_is_made_once_and_kept(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = config.from_environment(tmp_path)["SECRET_KEY"]
    assert re.fullmatch(r"[0-9a-f]{64}", first)
    assert config.from_environment(tmp_path)["SECRET_KEY"] == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0  # readable by its owner only
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]  # no temporary file left


def test_a_secret_key_another_process_made_first_is_the_one_used(tmp_path, monkeypatch):
    """Workers starting at once: another one writes the key just after this one looked."""
    monkeypatch.delenv("SECRET_KEY", raising=False)
    key_file = tmp_path / "secret_key"
    theirs = "a" * 64
    real_exists = Path.exists

    def exists_then_raced(path: Path) -> bool:
        if path == key_file and not real_exists(path):
            key_file.write_text(theirs)  # the other worker, right after this one's check
            return False
        return real_exists(path)

    monkeypatch.setattr(Path, "exists", exists_then_raced)
    assert config.from_environment(tmp_path)["SECRET_KEY"] == theirs
    assert key_file.read_text() == theirs
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]
