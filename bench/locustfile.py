"""Locust virtual learners for bench/load.py (run by it; not meant to be run by hand).

``Learner`` signs in and takes modules end to end the way a person does with forms: start,
lesson "Next" per screen, an answer per decision, "Continue" after each ending, the signed
acknowledgement when passed, then the module again. Even-numbered learners send their answers
as htmx requests (``HX-Request: true``; the response is the new step fragment), odd-numbered
ones as plain form POSTs that redirect (303) to the page, which they then GET.

``BaselineUser`` posts to bench/baseline_app.py's one endpoint.

``FloorUser`` signs in to bench/floor_app.py (``GET /sign-in/<id>``: no password, see that
module), GETs its form page once for the CSRF token, then posts answers back to back, counted
like the baseline's: an ok submit is a 200 whose page says "recorded".

Configuration comes from the JSON file named by BENCH_CONFIG; results (every request's latency,
and the answers each learner saw recorded) go to the JSON file named there as ``out``.

Counting answers: a learner knows the step token it posted. An answer counts as recorded only
when the page the learner sees next (the htmx fragment, or the page after the redirect) carries
step + 1 and "You chose: <the label it picked>". If the POST itself failed (an error status or a
broken connection), the learner GETs the page and applies the same test, so an answer the server
kept despite an error is still counted once, and one it lost is not counted at all.
"""

from __future__ import annotations

import html
import itertools
import json
import os
import random
import re
import time
from urllib.parse import urlsplit

import gevent
from common import (  # noqa: E402
    RE_CHOICE,
    RE_NODE,
    RE_SCENARIO,
    RE_VIEW,
    busy_cpu_seconds,
    cpu_seconds,
    csrf_token_in,
    step_in,
)  # bench/common.py (locust puts this folder on sys.path)
from gevent.event import Event
from locust import FastHttpUser, between, constant, events, task
from locust.exception import StopUser

CFG = json.loads(open(os.environ["BENCH_CONFIG"]).read())
KEY: dict = CFG.get("answer_key", {})
THINK = CFG.get("think", [0, 0])
PHASE = CFG.get("phase", "journey")  # journey | answers | baseline | floor
LOOP_CAP = int(CFG.get("loop_cap", 20))
P_BEST = float(CFG.get("p_best", 0.85))
HTMX_SHARE = CFG.get("htmx_every", 2)  # every n-th learner uses htmx for answers
ANSWER_MIX = CFG.get("answer_mix", "mixed")  # mixed (every HTMX_SHARE-th learner htmx) | htmx | plain

#: Measured phases (answers, baseline, floor): every user first gets ready (signed in, on its page),
#: then all start together and the run ends MEASURE seconds later, so the sign-in storm is not
#: part of the throughput figure. The journey phase has no barrier.
MEASURE = float(CFG.get("measure_seconds") or 0)
READY = Event()
_ready_count = 0

_ids = itertools.count()
_rng = random.Random(CFG.get("seed", 1))

RESULTS: dict = {
    "requests": [],  # [name, ms, ok, start_epoch]
    "answers": {"htmx": 0, "plain": 0},
    "answer_times": [],  # completion times of recorded answers (epoch seconds)
    "answers_by_learner": {},  # email -> answers this learner saw recorded
    "answers_recorded_despite_error": 0,
    "answers_not_recorded": 0,
    "first_answer_at": {},  # learner index -> epoch seconds
    "signin_failures": 0,
    "users_started": 0,
    "attempts_started": 0,
    "modules_passed": 0,
    "modules_failed": 0,
    "acknowledged": 0,
    "baseline_ok": 0,
    "baseline_times": [],
    "floor_ok": 0,
    "floor_times": [],
    "floor_signin_failures": 0,
    "t_start": None,
    "t_spawned": None,
    "t_stopping": None,
    "t_measure_start": None,
    "t_measure_end": None,
    "errors": {},
}

RE_CHOSE = re.compile(r'<p class="you-chose">You chose: (.*?)</p>', re.S)
RE_MODULE_LINK = re.compile(r'href="/learn/([a-z0-9-]+)/"')
RE_OUTCOME_PASSED = re.compile(r'id="passed-title"')


def _text(m) -> str | None:
    return html.unescape(m.group(1)).strip() if m else None


def _error(kind: str) -> None:
    RESULTS["errors"][kind] = RESULTS["errors"].get(kind, 0) + 1


@events.request.add_listener
def _on_request(request_type, name, response_time, response_length, exception=None, start_time=None, **kw):
    RESULTS["requests"].append([name, round(response_time, 3), exception is None, start_time])
    if exception is not None:
        _error(f"{name}: {str(exception)[:120]}")


@events.test_start.add_listener
def _on_test_start(environment, **kw):
    RESULTS["t_start"] = time.time()


@events.spawning_complete.add_listener
def _on_spawned(user_count, **kw):
    RESULTS["t_spawned"] = time.time()


@events.test_stopping.add_listener
def _on_stopping(environment, **kw):
    RESULTS["t_stopping"] = time.time()


@events.quitting.add_listener
def _on_quitting(environment, **kw):
    with open(CFG["out"], "w") as fh:
        json.dump(RESULTS, fh)


def _server_cpu() -> float:
    """CPU seconds the gunicorn processes under test have used so far."""
    return cpu_seconds(CFG.get("server_pids", []))


_busy_cpu = busy_cpu_seconds


def _end_measurement(environment):
    RESULTS["t_measure_end"] = time.time()
    RESULTS["cpu_window"] = _server_cpu() - RESULTS["cpu_window"]
    RESULTS["busy_window"] = _busy_cpu() - RESULTS["busy_window"]
    environment.runner.quit()


def _wait_for_everyone(environment):
    """The barrier of a measured phase (no-op in the journey phase)."""
    global _ready_count
    if not MEASURE:
        return
    _ready_count += 1
    if _ready_count >= int(CFG["users"]) and not READY.is_set():
        RESULTS["t_measure_start"] = time.time()
        RESULTS["cpu_window"] = _server_cpu()
        RESULTS["busy_window"] = _busy_cpu()
        READY.set()
        gevent.spawn_later(MEASURE, _end_measurement, environment)
    READY.wait()
    if THINK[1] > 0:  # learners at work (bench/capacity.py): not all clicking at the same instant
        gevent.sleep(_rng.uniform(0, THINK[1]))


def _think():
    lo, hi = THINK
    return constant(0) if hi <= 0 else between(lo, hi)


class Learner(FastHttpUser):
    wait_time = _think()

    def on_start(self):
        self.idx = next(_ids)
        account = CFG["learners"][self.idx % len(CFG["learners"])]
        self.email, self.name = account["email"], account["name"]
        self.mode = (
            ANSWER_MIX if ANSWER_MIX in ("htmx", "plain") else ("htmx" if self.idx % HTMX_SHARE == 0 else "plain")
        )
        self.module = CFG.get("module")
        self.page = ""
        self.answers_in_attempt = 0
        RESULTS["users_started"] += 1
        self._sign_in()
        self._open_index()
        _wait_for_everyone(self.environment)

    # --- requests ---------------------------------------------------------------------

    def _get(self, path: str) -> str:
        with self.client.get(path, name="page GET", catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"HTTP {r.status_code}")
                return ""
            r.success()
            return r.text or ""

    def _post(self, path: str, data: dict, name: str, expect_location: str = "", headers=None):
        """A form POST that must answer 303 (to a location containing ``expect_location``)."""
        with self.client.post(
            path, data=data, name=name, allow_redirects=False, headers=headers or {}, catch_response=True
        ) as r:
            location = (r.headers or {}).get("Location", "") if r.status_code else ""
            if r.status_code == 303 and expect_location in location:
                r.success()
                return True, location
            r.failure(f"HTTP {r.status_code}")
            return False, location

    def _sign_in(self):
        for attempt in range(5):
            page = self._get("/auth/login")
            token = csrf_token_in(page)
            if token:
                ok, location = self._post(
                    "/auth/login",
                    {"email": self.email, "password": CFG["password"], "csrf_token": token},
                    "sign-in",
                    "/learn/",
                )
                if ok:
                    return
            RESULTS["signin_failures"] += 1
            time.sleep(1 + attempt)
        raise StopUser()

    def _open_index(self):
        listing = self._get("/learn/")
        modules = sorted(set(RE_MODULE_LINK.findall(listing)))
        if self.module is None or self.module not in modules:
            if not modules:
                _error("no module listed for the learner")
                raise StopUser()
            self.module = _rng.choice(modules)
        self._open_module()

    def _open_module(self):
        self.page = self._get(f"/learn/{self.module}/")

    @property
    def base(self) -> str:
        return f"/learn/{self.module}/"

    # --- one click per task run (so a graceful stop never leaves a click half done) -----

    @task
    def click(self):
        m = RE_VIEW.search(self.page)
        view = m.group(1) if m else None
        if view is None:  # certificate, an error page, or nothing: back to My training
            self._open_index()
        elif view == "overview":
            self._step_post("start", "start")
            self.answers_in_attempt = 0
            RESULTS["attempts_started"] += 1
        elif view == "lesson":
            self._step_post("next", "lesson next")
        elif view == "question":
            self._answer()
        elif view == "ending":
            self._step_post("continue", "continue")
            if 'class="step step-acknowledge"' in self.page:
                RESULTS["modules_passed"] += 1
            elif 'class="step step-overview"' in self.page:
                RESULTS["modules_failed"] += 1
        elif view == "acknowledge":
            self._acknowledge()
        else:
            _error(f"unknown view {view}")
            self._open_module()

    def _step_post(self, action: str, name: str):
        token, step = csrf_token_in(self.page), step_in(self.page)
        if token is None or step is None:
            _error(f"no form on the page before {name}")
            self._open_module()
            return
        self._post(self.base + action, {"csrf_token": token, "step": step}, name, self.base)
        self._open_module()

    def _acknowledge(self):
        token, step = csrf_token_in(self.page), step_in(self.page)
        ok, location = self._post(
            self.base + "acknowledge",
            {"csrf_token": token, "step": step, "agree": "y", "full_name": self.name},
            "acknowledge",
            "/certificate/",
        )
        if ok:
            RESULTS["acknowledged"] += 1
            self.page = self._get(urlsplit(location).path)
        else:
            self._open_module()

    def _pick(self, choices: list[tuple[int, str]], scenario: str, node: str) -> tuple[int, str]:
        def info(label):
            return KEY.get(f"{scenario}\x1f{node}\x1f{label}", {})

        def best():
            return max(choices, key=lambda c: (not info(c[1]).get("critical", False), info(c[1]).get("points", 0)))

        if PHASE == "answers":
            loops = [c for c in choices if info(c[1]).get("loops")]
            if loops and self.answers_in_attempt < LOOP_CAP:
                return _rng.choice(loops)
            return best()
        return best() if _rng.random() < P_BEST else _rng.choice(choices)

    def _answer(self):
        page = self.page
        token, step = csrf_token_in(page), step_in(page)
        choices = [(value, html.unescape(label).strip()) for value, label in RE_CHOICE.findall(page)]
        if token is None or step is None or not choices:
            _error("question page without a form")
            self._open_module()
            return
        number, label = self._pick(choices, _text(RE_SCENARIO.search(page)) or "", _text(RE_NODE.search(page)) or "")
        headers = (
            {"HX-Request": "true", "HX-Current-URL": self.base, "HX-Target": "step"} if self.mode == "htmx" else {}
        )
        name = f"answer submit ({self.mode})"
        with self.client.post(
            self.base + "answer",
            data={"csrf_token": token, "step": step, "choice": number},
            headers=headers,
            name=name,
            allow_redirects=False,
            catch_response=True,
        ) as r:
            status = r.status_code
            if self.mode == "htmx":
                http_ok = status == 200
                after = (r.text or "") if http_ok else None
            else:
                http_ok = status == 303 and "#feedback" in (r.headers or {}).get("Location", "")
                after = None
            done_at = time.time()
            if after is None:  # plain form: follow the redirect; failed htmx: look where we are
                after = self._get(self.base)
            recorded = step_in(after) == step + 1 and _text(RE_CHOSE.search(after)) == label
            if recorded:
                RESULTS["answers"][self.mode] += 1
                RESULTS["answers_by_learner"][self.email] = RESULTS["answers_by_learner"].get(self.email, 0) + 1
                RESULTS["answer_times"].append(done_at)
                RESULTS["first_answer_at"].setdefault(str(self.idx), done_at)
                self.answers_in_attempt += 1
                if not http_ok:
                    RESULTS["answers_recorded_despite_error"] += 1
            else:
                RESULTS["answers_not_recorded"] += 1
            if http_ok and recorded:
                r.success()
            elif http_ok:
                r.failure("answer not recorded (the step did not move on)")
            else:
                r.failure(f"HTTP {status}")
            self.page = after


class BaselineUser(FastHttpUser):
    """One INSERT and one small template per POST (bench/baseline_app.py)."""

    wait_time = _think()

    def on_start(self):
        self.idx = next(_ids)
        RESULTS["users_started"] += 1
        self.n = 0
        _wait_for_everyone(self.environment)

    @task
    def submit(self):
        self.n += 1
        with self.client.post(
            "/answer",
            data={"learner": self.idx, "step": self.n, "choice": 1 + self.n % 3},
            name="baseline submit",
            catch_response=True,
        ) as r:
            done_at = time.time()
            if r.status_code == 200 and "recorded" in (r.text or ""):
                r.success()
                RESULTS["baseline_ok"] += 1
                RESULTS["baseline_times"].append(done_at)
                RESULTS["first_answer_at"].setdefault(str(self.idx), done_at)
            else:
                r.failure(f"HTTP {r.status_code}")


class FloorUser(FastHttpUser):
    """bench/floor_app.py: the baseline's INSERT + template behind a signed session cookie,
    Flask-Login, CSRF, a FlaskForm and the ORM. Users 1..floor_users exist (floor_app init)."""

    wait_time = _think()

    def on_start(self):
        self.idx = next(_ids)
        RESULTS["users_started"] += 1
        self.user_id = 1 + self.idx % int(CFG["floor_users"])
        self.n = 0
        self.token = None
        for attempt in range(5):
            self.token = self._sign_in_and_get_token()
            if self.token:
                break
            RESULTS["floor_signin_failures"] += 1
            time.sleep(1 + attempt)
        else:
            _error("floor: could not sign in and get a CSRF token")
            raise StopUser()
        _wait_for_everyone(self.environment)

    def _sign_in_and_get_token(self) -> str | None:
        with self.client.get(f"/sign-in/{self.user_id}", name="floor sign-in", catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"HTTP {r.status_code}")
                return None
            r.success()
        with self.client.get("/form", name="floor form GET", catch_response=True) as r:
            token = csrf_token_in(r.text or "") if r.status_code == 200 else None
            if token is None:
                r.failure(f"HTTP {r.status_code}, no CSRF token")
                return None
            r.success()
            return token

    @task
    def submit(self):
        self.n += 1
        with self.client.post(
            "/answer",
            data={"csrf_token": self.token, "step": self.n, "choice": 1 + self.n % 3},
            name="floor submit",
            catch_response=True,
        ) as r:
            done_at = time.time()
            if r.status_code == 200 and "recorded" in (r.text or ""):
                r.success()
                RESULTS["floor_ok"] += 1
                RESULTS["floor_times"].append(done_at)
                RESULTS["first_answer_at"].setdefault(str(self.idx), done_at)
            else:
                r.failure(f"HTTP {r.status_code}")
