"""deploy/nginx/rounds.conf works: the shipped file, with only its ports, certificate and cache
folder changed for a test, serves Rounds over TLS in front of gunicorn (docs/deploy.md, "nginx").

Skipped, saying so, where nginx is not installed (``apt-get install nginx-light``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import pytest

from quiz.config import PROJECT_ROOT

from .helpers import DATA_CONTENT, PASSWORD, csrf_token, gunicorn_server

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed: deploy/nginx/rounds.conf was not tried")
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, process: subprocess.Popen, log: Path, context=None) -> None:
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, log.read_text() if log.exists() else "stopped"
        try:
            urllib.request.urlopen(url, timeout=2, context=context).read()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            assert time.monotonic() < deadline, f"{url} did not answer:\n" + (log.read_text() if log.exists() else "")
            time.sleep(0.1)


def _stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.fixture
def behind_nginx(tmp_path):
    env = dict(
        os.environ,
        DATABASE_URL=f"sqlite:///{tmp_path / 'rounds.sqlite3'}",
        INSTANCE_PATH=str(tmp_path / "instance"),
        CONTENT_DIR=str(DATA_CONTENT),
        SECRET_KEY="nginx-test-key",
        HTTPS="1",
        PROXIES="1",
        LOGIN_RATE_LIMIT="2 per minute",
    )
    env.pop("RATELIMIT_STORAGE_URI", None)
    for args in (["db", "upgrade"], ["content", "load"]):
        subprocess.run(
            [str(BIN / "flask"), "--app", "app", *args], cwd=PROJECT_ROOT, env=env, check=True, capture_output=True
        )
    subprocess.run(
        [
            str(BIN / "flask"),
            "--app",
            "app",
            "users",
            "add",
            "learner@example.org",
            "--name",
            "Dana Whitfield",
            "--role",
            "learner",
            "--job-role",
            "front-desk",
        ],
        cwd=PROJECT_ROOT,
        env=env,
        check=True,
        capture_output=True,
        input=PASSWORD + "\n",
        text=True,
    )
    app_port, http_port, https_port = _free_port(), _free_port(), _free_port()
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(tmp_path / "key.pem"),
            "-out",
            str(tmp_path / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )
    conf = (PROJECT_ROOT / "deploy" / "nginx" / "rounds.conf").read_text()
    for old, new in [
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
        ("server 127.0.0.1:8000;", f"server 127.0.0.1:{app_port};"),
        ("/etc/letsencrypt/live/rounds.example.org/fullchain.pem", str(tmp_path / "cert.pem")),
        ("/etc/letsencrypt/live/rounds.example.org/privkey.pem", str(tmp_path / "key.pem")),
        ("/var/cache/nginx/rounds", str(tmp_path / "nginx-cache")),
        ("/var/log/nginx/rounds.access.log", str(tmp_path / "logs" / "rounds.access.log")),
    ]:
        assert old in conf, old
        conf = conf.replace(old, new)
    conf = "\n".join(line for line in conf.splitlines() if "[::]" not in line)  # no IPv6 on a test box
    (tmp_path / "rounds.conf").write_text(conf)
    for folder in ("logs", "client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / folder).mkdir()
    user = "user root root;\n" if os.geteuid() == 0 else ""
    (tmp_path / "nginx.conf").write_text(
        f"{user}daemon off;\nworker_processes 1;\npid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/logs/error.log;\n"
        f"events {{}}\nhttp {{\n access_log {tmp_path}/logs/access.log;\n client_body_temp_path {tmp_path}/client_body;\n"
        f" proxy_temp_path {tmp_path}/proxy;\n fastcgi_temp_path {tmp_path}/fastcgi;\n uwsgi_temp_path {tmp_path}/uwsgi;\n"
        f" scgi_temp_path {tmp_path}/scgi;\n include {tmp_path}/rounds.conf;\n}}\n"
    )
    nginx_args = [NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")]
    checked = subprocess.run([*nginx_args, "-t"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    log = tmp_path / "gunicorn.log"
    with gunicorn_server(env, log, port=app_port, wait_path="/healthz"):
        proxy = subprocess.Popen(
            nginx_args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            context = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
            context.check_hostname = False
            _wait(f"https://127.0.0.1:{https_port}/healthz", proxy, tmp_path / "logs" / "error.log", context)
            yield http_port, https_port, context, tmp_path, log
        finally:
            _stop(proxy)


def test_the_shipped_nginx_config_serves_rounds_over_tls(behind_nginx):
    http_port, https_port, context, tmp_path, log = behind_nginx
    base = f"https://127.0.0.1:{https_port}"
    jar = CookieJar()
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=context), urllib.request.HTTPCookieProcessor(jar), _NoRedirects
    )

    def fetch(path, data=None, headers=None):
        request = urllib.request.Request(
            base + path,
            data=urllib.parse.urlencode(data).encode() if data else None,
            headers={"Referer": base + "/auth/login", **(headers or {})},
        )
        try:
            response = opener.open(request, timeout=10)
        except urllib.error.HTTPError as exc:
            response = exc
        return response.status, response.headers, response.read().decode()

    # plain HTTP is sent to HTTPS
    plain = urllib.request.build_opener(_NoRedirects)
    with pytest.raises(urllib.error.HTTPError) as redirect:
        plain.open(f"http://127.0.0.1:{http_port}/learn/", timeout=10)
    assert redirect.value.code == 301 and redirect.value.headers["Location"].startswith("https://")

    status, headers, body = fetch("/healthz")
    assert status == 200 and json.loads(body)["status"] == "ok"

    # the app sees HTTPS through the proxy: Secure cookies and HSTS; a form's CSRF check (which
    # over HTTPS compares the Referer with the Host) passes, and the learner signs in
    status, headers, page = fetch("/auth/login")
    assert status == 200 and headers["Strict-Transport-Security"].startswith("max-age=")
    status, headers, _ = fetch(
        "/auth/login", {"email": "learner@example.org", "password": PASSWORD, "csrf_token": csrf_token(page)}
    )
    assert status == 303 and headers["Location"] == "/learn/"
    assert "; Secure" in headers["Set-Cookie"] and "HttpOnly" in headers["Set-Cookie"]
    assert headers["Set-Cookie"].startswith("__Host-session=") and "Domain=" not in headers["Set-Cookie"]
    status, _, page = fetch("/learn/")
    assert status == 200 and "Test module on callers" in page

    # static files: asked of the app once, then from nginx's cache
    asset = re.search(r'href="(/assets/style\.[0-9a-f]+\.css)"', page).group(1)
    assert [fetch(asset)[1]["X-Cache-Status"] for _ in range(2)] == ["MISS", "HIT"]

    # failed sign-ins are counted against the address nginx saw, whatever a client claims
    codes = []
    for i in range(3):
        stranger = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=context), urllib.request.HTTPCookieProcessor(CookieJar()), _NoRedirects
        )
        login = stranger.open(base + "/auth/login", timeout=10).read().decode()
        request = urllib.request.Request(
            base + "/auth/login",
            headers={"Referer": base + "/auth/login", "X-Forwarded-For": f"203.0.113.{i}"},
            data=urllib.parse.urlencode(
                {"email": "x@example.org", "password": "wrong password", "csrf_token": csrf_token(login)}
            ).encode(),
        )
        try:
            codes.append(stranger.open(request, timeout=10).status)
        except urllib.error.HTTPError as exc:
            codes.append(exc.code)
    assert codes == [401, 401, 429]
    with sqlite3.connect(tmp_path / "rounds.sqlite3") as conn:
        keys = [key for (key,) in conn.execute("SELECT key FROM rate_limit_counters")]
    assert len(keys) == 1 and "127.0.0.1" in keys[0] and "203.0.113" not in keys[0]
    assert "Traceback" not in log.read_text()

    # the access log keeps paths, never query strings: an emailed link's token travels in one
    token = "k9" * 22
    status, headers, _ = fetch(f"/auth/link?token={token}", headers={"Referer": f"{base}/auth/link?token={token}"})
    assert status == 410 and headers["Referrer-Policy"] == "no-referrer"
    access_log = (tmp_path / "logs" / "rounds.access.log").read_text()
    assert '"GET /auth/link HTTP/' in access_log and token not in access_log
