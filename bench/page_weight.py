"""Page weight: what a learner's phone downloads for each page.

    .venv/bin/python bench/page_weight.py                   # the real content/ (default)
    .venv/bin/python bench/page_weight.py --content test    # tests/data/content

Serves the app with gunicorn on 127.0.0.1 (fresh SQLite database in a temp dir), and for every
module one learner of a matching role signs in and walks it: My training, the overview, every
lesson screen, every question (first a failing walk, to see the review page, then a passing
walk), the feedback after each answer (as the htmx fragment and as the full page), the endings,
the acknowledgement, the certificate and the overview again. Also the sign-in page and a 404.

For each page: HTML bytes and gzip-compressed bytes (level 6, as a typical server sends it),
plus the compressed CSS (style.css) and our own script (request-errors.js) it links; the check
is compressed HTML + CSS + our script < 30 KB (30,000 bytes) per page. htmx (static/vendor/) is
listed separately (it is the same file on every page and is cached for a year after the first
one).

Static assets: every /assets/ URL the pages reference must have a content-hashed name
(name.<12 hex>.ext, the hash matching the bytes served), answer with
Cache-Control max-age=31536000 (plus immutable), and an old/wrong hash must 404. HTML pages
themselves must not be cached (no-store).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import html as htmllib
import http.cookiejar
import re
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    PASSWORD,
    RE_CHOICE,
    RE_NODE,
    RE_SCENARIO,
    RE_VIEW,
    REAL_CONTENT,
    TEST_CONTENT,
    app_env,
    content_facts,
    create_learners,
    csrf_token_in,
    flask_cli,
    fresh_database,
    machine_line,
    rmtree_quiet,
    say,
    start_gunicorn,
    step_in,
    table,
)

LIMIT = 30_000
ONE_YEAR = 31536000
RE_LESSON = re.compile(r"Lesson: screen (\d+) of (\d+)")
RE_ASSET = re.compile(r'(?:href|src)="(/(?:assets|static)/[^"]+)"')
RE_HASHED = re.compile(r"^/assets/(?P<name>.+)\.(?P<hash>[0-9a-f]{12})\.(?P<ext>[A-Za-z0-9]+)$")


def gz(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=6))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """A cookie-keeping client that follows redirects like a browser (303 -> GET)."""

    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.raw = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect)

    def request(self, path: str, data: dict | None = None, headers: dict | None = None, follow: bool = True):
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(self.base + path, data=body, headers=headers or {})
        try:
            with (self.opener if follow else self.raw).open(req, timeout=30) as r:
                return r.status, dict(r.headers), r.read(), r.geturl()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read(), e.geturl()


def text(regex, page: str) -> str:
    m = regex.search(page)
    return htmllib.unescape(m.group(1)).strip() if m else ""


class Walk:
    def __init__(self, browser: Browser, key: dict):
        self.b = browser
        self.key = key
        self.pages: list[dict] = []  # label, path, bytes, headers, kind

    def record(self, label: str, path: str, status: int, headers: dict, body: bytes, kind: str = "page") -> str:
        self.pages.append(
            {"label": label, "path": path, "status": status, "headers": headers, "body": body, "kind": kind}
        )
        return body.decode("utf-8", "replace")

    def get(self, label: str, path: str) -> str:
        status, headers, body, _ = self.b.request(path)
        return self.record(label, path, status, headers, body)

    def post(self, label: str, path: str, data: dict, htmx: bool = False) -> str:
        headers = {"HX-Request": "true", "HX-Target": "step"} if htmx else {}
        status, headers_, body, url = self.b.request(path, data, headers)
        final = urllib.parse.urlsplit(url).path
        return self.record(label, final, status, headers_, body, "fragment" if htmx else "page")

    def label_for(self, module: str, page: str) -> str:
        m = RE_VIEW.search(page)
        view = m.group(1) if m else "?"
        if view == "lesson":
            lm = RE_LESSON.search(page)
            return f"{module}: lesson screen {lm.group(1)} of {lm.group(2)}" if lm else f"{module}: lesson"
        if view in ("question", "ending"):
            node = text(RE_NODE, page)
            fb = " + feedback" if 'id="feedback"' in page else ""
            return f"{module}: {'ending' if view == 'ending' else 'question'} '{node[:40]}'{fb}"
        if view == "overview":
            state = re.search(r'class="status status-([a-z-]+)"', page)
            return f"{module}: overview ({state.group(1) if state else '?'})"
        return f"{module}: {view}"

    def choose(self, page: str, passing: bool) -> str:
        scenario, node = text(RE_SCENARIO, page), text(RE_NODE, page)
        choices = [(n, htmllib.unescape(lbl).strip()) for n, lbl in RE_CHOICE.findall(page)]

        def worth(c):
            info = self.key.get(f"{scenario}\x1f{node}\x1f{c[1]}", {})
            return (not info.get("critical", False), info.get("points", 0))

        return (max if passing else min)(choices, key=worth)[0]

    def module(self, module: str, passing: bool) -> None:
        base = f"/learn/{module}/"
        page = self.get("", base)
        self.pages[-1]["label"] = self.label_for(module, page)
        page = self.post("", base + "start", {"csrf_token": csrf_token_in(page), "step": step_in(page)})
        self.pages[-1]["label"] = self.label_for(module, page)
        for _ in range(80):
            m = RE_VIEW.search(page)
            view = m.group(1) if m else None
            if view == "lesson":
                page = self.post("", base + "next", {"csrf_token": csrf_token_in(page), "step": step_in(page)})
            elif view == "question":
                number = self.choose(page, passing)
                data = {"csrf_token": csrf_token_in(page), "step": step_in(page), "choice": number}
                fragment = self.post(f"{module}: answer response (htmx fragment)", base + "answer", data, htmx=True)
                page = self.get("", base)
                assert fragment
            elif view == "ending":
                page = self.post("", base + "continue", {"csrf_token": csrf_token_in(page), "step": step_in(page)})
            elif view == "acknowledge":
                self.pages[-1]["label"] = f"{module}: acknowledge"
                account_name = re.search(r'<span class="who">(.*?)</span>', page)
                data = {
                    "csrf_token": csrf_token_in(page),
                    "step": step_in(page),
                    "agree": "y",
                    "full_name": htmllib.unescape(account_name.group(1)) if account_name else "",
                }
                page = self.post(f"{module}: certificate", base + "acknowledge", data)
                break
            else:
                break
            if not self.pages[-1]["label"]:
                self.pages[-1]["label"] = self.label_for(module, page)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--content", default="real", help="real (content/, default), test, or a path")
    ap.add_argument("--modules", type=int, default=0, help="walk at most this many modules (0: all)")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args(argv)
    content = {"real": REAL_CONTENT, "test": TEST_CONTENT}.get(args.content) or Path(args.content).resolve()

    say(f"machine: {machine_line()}")
    work = Path(tempfile.mkdtemp(prefix="rounds-page-weight-"))
    url = fresh_database("sqlite", work)
    env = app_env(url, content, work / "instance")
    flask_cli(env, "db", "upgrade")
    flask_cli(env, "content", "load")
    from quiz.content import load_library

    lib = load_library(content)
    key = content_facts(content, allow_errors=True)[0]
    modules = sorted(lib.modules.values(), key=lambda m: m.id)
    if args.modules:
        modules = modules[: args.modules]
    learners = []
    for i, m in enumerate(modules):
        spec = m.specialties[0] if m.specialties else None
        states = getattr(m, "states", ()) or ()
        learners += create_learners(
            env, 1, [(m.roles[0], spec)], prefix=f"weight{i:03d}", work_state=states[0] if states else None
        )
    server = start_gunicorn("app:app", env, work, workers=1, threads=2, label="page-weight", ready_path="/auth/login")
    pages: list[dict] = []
    try:
        for m, learner in zip(modules, learners, strict=False):
            b = Browser(server.url)
            walk = Walk(b, key)
            login = walk.get("sign in", "/auth/login")
            walk.post(
                "", "/auth/login", {"email": learner.email, "password": PASSWORD, "csrf_token": csrf_token_in(login)}
            )
            walk.pages[-1]["label"] = "My training"
            walk.module(m.id, passing=False)
            walk.module(m.id, passing=True)
            walk.get(f"{m.id}: overview (after passing)", f"/learn/{m.id}/")
            walk.get("not found (404)", "/learn/no-such-module/")
            pages += walk.pages
        # assets
        assets = sorted({a for p in pages for a in RE_ASSET.findall(p["body"].decode("utf-8", "replace"))})
        asset_rows, asset_ok, asset_bytes = [], True, {}
        b = Browser(server.url)
        for path in assets:
            status, headers, body, _ = b.request(path)
            cc = headers.get("Cache-Control", "")
            m = RE_HASHED.match(path)
            hashed = bool(m) and hashlib.sha256(body).hexdigest()[:12] == m.group("hash")
            long_cache = f"max-age={ONE_YEAR}" in cc
            stale = b.request(re.sub(r"\.[0-9a-f]{12}\.", ".000000000000.", path))[0] if m else None
            ok = status == 200 and hashed and long_cache and "immutable" in cc and stale == 404
            asset_ok &= ok
            asset_bytes[path] = (len(body), gz(body))
            asset_rows.append(
                [
                    path,
                    status,
                    f"{len(body):,}",
                    f"{gz(body):,}",
                    cc,
                    "yes" if hashed else "NO",
                    stale,
                    "ok" if ok else "FAIL",
                ]
            )
    finally:
        server.stop()

    css = [a for a in asset_bytes if a.endswith(".css")]
    ours = [a for a in asset_bytes if a.endswith(".js") and "/vendor/" not in a]
    js = [a for a in asset_bytes if "htmx" in a]
    linked = css + ours  # counted in each page that links them
    css_gz = sum(asset_bytes[a][1] for a in linked)
    say(
        f"\ncontent: {content} ({len(modules)} modules walked); gzip level 6; limit {LIMIT:,} bytes of "
        f"compressed HTML + CSS + our script per page"
    )
    rows, worst, fails, nostore_bad = [], 0, 0, []
    seen = set()
    for p in pages:
        body = p["body"]
        links_css = p["kind"] == "page" and any(c in body.decode("utf-8", "replace") for c in linked)
        total = gz(body) + (css_gz if links_css else 0)
        ok = total < LIMIT
        fails += not ok
        worst = max(worst, total)
        if p["kind"] == "page" and "no-store" not in p["headers"].get("Cache-Control", ""):
            nostore_bad.append(p["label"])
        key = (p["label"], len(body))
        if key in seen:
            continue
        seen.add(key)
        rows.append(
            [
                p["label"] or p["path"],
                p["status"],
                f"{len(body):,}",
                f"{gz(body):,}",
                f"{css_gz:,}" if links_css else "-",
                f"{total:,}",
                "ok" if ok else "OVER",
            ]
        )
    say(table(["page", "status", "HTML bytes", "HTML gz", "CSS+script gz", "total gz", "< 30 KB"], rows, "lrrrrrr"))
    say(
        f"\n{len(pages)} responses ({len(rows)} distinct rows above); heaviest page: {worst:,} bytes compressed HTML+CSS+script"
    )
    groups: dict[str, list] = {}
    for p in pages:
        label = re.sub(r"^[a-z0-9-]+: ", "", p["label"] or p["path"])
        label = re.sub(r" '.*'", "", label)
        label = re.sub(r"lesson screen \d+ of \d+", "lesson screen", label)
        label = re.sub(r"overview \(.*\)", "overview", label)
        body = p["body"]
        with_css = p["kind"] == "page" and any(c in body.decode("utf-8", "replace") for c in linked)
        groups.setdefault(label, []).append((len(body), gz(body), gz(body) + (css_gz if with_css else 0)))
    summary = []
    for label, vals in sorted(groups.items()):
        summary.append(
            [
                label,
                len(vals),
                f"{max(v[0] for v in vals):,}",
                f"{max(v[1] for v in vals):,}",
                f"{max(v[2] for v in vals):,}",
            ]
        )
    say("\nby kind of page (largest of each):")
    say(table(["page kind", "responses", "max HTML", "max HTML gz", "max total gz"], summary))
    for a in css:
        say(f"CSS {a}: {asset_bytes[a][0]:,} bytes, {asset_bytes[a][1]:,} gzipped")
    for a in ours:
        say(f"our script {a}: {asset_bytes[a][0]:,} bytes, {asset_bytes[a][1]:,} gzipped")
    for a in js:
        say(f"htmx {a}: {asset_bytes[a][0]:,} bytes, {asset_bytes[a][1]:,} gzipped (once; then cached for a year)")
    say("\nstatic assets referenced by the pages:")
    say(
        table(
            ["asset", "status", "bytes", "gz", "Cache-Control", "hash matches", "wrong hash", "result"],
            asset_rows,
            "lrrrlllr",
        )
    )
    unhashed = [a for a in assets if not RE_HASHED.match(a)]
    say(
        f"\ntargets: every page < 30 KB compressed HTML+CSS+script -> {'PASS' if not fails else f'MISS ({fails} over)'}"
    )
    say(
        f"         assets hashed, immutable, max-age={ONE_YEAR}, old hash 404 -> "
        f"{'PASS' if asset_ok and assets and not unhashed else 'MISS'} ({len(assets)} assets; unhashed: {unhashed or 'none'})"
    )
    say(
        f"         HTML pages not cached (no-store) -> {'PASS' if not nostore_bad else 'MISS: ' + ', '.join(nostore_bad[:5])}"
    )
    if args.keep:
        say(f"kept {work}")
    else:
        rmtree_quiet(work)
    return 0 if not fails and asset_ok and assets and not unhashed and not nostore_bad else 1


if __name__ == "__main__":
    sys.exit(main())
