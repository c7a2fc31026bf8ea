"""Shared pieces of the on-demand benchmarks: fresh databases, learner accounts, gunicorn on
loopback, percentiles, and a description of the machine.

Nothing here is imported by the app or by the test suite; `make test` never runs it.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
BIN = Path(sys.executable).parent  # the venv's bin/ when run as .venv/bin/python
TEST_CONTENT = ROOT / "tests" / "data" / "content"
REAL_CONTENT = ROOT / "content"
LOOPBACK = "127.0.0.1"

PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
#: The only database these scripts ever drop and re-create: `bench`, or the name in
#: BENCH_PG_DB (so two people benchmarking on one server do not drop each other's).
PG_BENCH_DB = os.environ.get("BENCH_PG_DB", "bench")
if not re.fullmatch(r"bench[a-z0-9_]*", PG_BENCH_DB):
    raise SystemExit(f"BENCH_PG_DB must start with 'bench' (letters, digits, _), not {PG_BENCH_DB!r}")

#: One password for every bench learner; its Argon2id hash is computed once per run.
PASSWORD = "bench learner passphrase 2026"


# ----------------------------------------------------------------------------------- output

#: What the learner pages look like to the load and page-weight tools (templates/learn/).
RE_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')
RE_STEP = re.compile(r'name="step" type="hidden" value="(\d+)"')
RE_VIEW = re.compile(r'<div id="step" class="step step-([a-z]+)"')
RE_CHOICE = re.compile(r'name="choice"[^>]*type="radio" value="([^"]+)">\s*<label for="[^"]+">(.*?)</label>', re.S)
RE_NODE = re.compile(r'<h2 id="node-title">(.*?)</h2>', re.S)
RE_SCENARIO = re.compile(r'<p class="progress-label">Check \d+ of \d+: (.*?)</p>', re.S)


def csrf_token_in(page: str) -> str | None:
    """The CSRF token a page's forms carry, or None if it has no form."""
    m = RE_CSRF.search(page)
    return (m.group(1) or m.group(2)) if m else None


def step_in(page: str) -> int | None:
    """The step token of a learner page's step forms, or None if it has none."""
    m = RE_STEP.search(page)
    return int(m.group(1)) if m else None


def say(*parts) -> None:
    print(*parts, flush=True)


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100) of raw values; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, int(-(-p * len(ordered) // 100)))  # ceil(p/100 * n), at least 1
    return ordered[min(rank, len(ordered)) - 1]


def fmt_ms(value: float | None) -> str:
    return "-" if value is None else (f"{value:.1f}" if value < 100 else f"{value:.0f}")


def table(headers: list[str], rows: list[list], align: str | None = None) -> str:
    """A plain-text table (also valid Markdown)."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    align = align or ("l" + "r" * (len(headers) - 1))

    def line(row):
        out = []
        for i, c in enumerate(row):
            out.append(c.ljust(widths[i]) if align[i] == "l" else c.rjust(widths[i]))
        return "| " + " | ".join(out) + " |"

    sep = (
        "|"
        + "|".join(("-" * (w + 1) + ":") if a == "r" else ("-" * (w + 2)) for w, a in zip(widths, align, strict=False))
        + "|"
    )
    return "\n".join([line(cells[0]), sep, *(line(r) for r in cells[1:])])


#: Run in a function: at module level the loop's names would be globals, a slower loop.
_GAUGE_LOOP = """
import time
def gauge():
    best = float("inf")
    for _ in range({rounds}):
        started, total = time.perf_counter(), 0
        for i in range({steps}):
            total += i
        best = min(best, time.perf_counter() - started)
    return best / {steps} * 1e9
print(gauge())
"""


@functools.cache
def python_speed(steps: int = 2_000_000, processes: int = 5, rounds: int = 2) -> float:
    """Nanoseconds per step of a fixed pure-Python loop: the median over ``processes`` fresh
    interpreters of each one's best of ``rounds``.

    The VMs these figures come from differ in speed by up to five times with the same model
    name and core count (bench/README.md), and every time figure here moves with it. This
    gauge, printed beside each one, says how fast the machine ran Python at the time, so
    figures from two machines can be compared. Fresh interpreters, because on these VMs the
    loop's speed is fixed for a process's life (and its forks') but differs between processes
    started seconds apart, by up to 1.9 times (34-68 ns on one machine): one process's reading
    is a draw, not the machine's speed. Measured once per run, when first asked.
    """
    code = _GAUGE_LOOP.format(steps=steps, rounds=rounds)
    readings = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
        for _ in range(processes)
    ]
    return statistics.median(readings)


def machine() -> dict:
    """What the figures were measured on."""
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.splitlines()[1].split()[1]
    except Exception:  # noqa: BLE001
        mem = "?"
    return {
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "memory": mem,
        "cpu": cpu,
        "python": platform.python_version(),
        "python_ns_per_step": round(python_speed(), 1),
    }


def machine_line() -> str:
    m = machine()
    return (
        f"{m['date']}; nproc {m['nproc']}; memory {m['memory']}; CPU {m['cpu']}; Python {m['python']}; "
        f"Python speed {m['python_ns_per_step']} ns per loop step (python_speed(): lower is faster)"
    )


# -------------------------------------------------------------------------------- databases


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def reset_postgresql_bench() -> str:
    """Drop and re-create the `bench` database (or BENCH_PG_DB; that one only); return its URL."""
    from sqlalchemy import create_engine, text

    from quiz.config import normalize_database_url

    admin = create_engine(normalize_database_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {PG_BENCH_DB}"))
    admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + PG_BENCH_DB


def fresh_database(kind: str, workdir: Path, name: str = "rounds") -> str:
    """A new empty database: a SQLite file under ``workdir``, or the reset `bench` database."""
    if kind == "sqlite":
        return f"sqlite:///{workdir / (name + '.sqlite3')}"
    if kind == "postgresql":
        return reset_postgresql_bench()
    raise SystemExit(f"unknown database kind {kind!r}")


def in_process_app(database_url: str, work: Path, content_dir: Path = TEST_CONTENT):
    """The app as `make run` builds it, in this process (for Flask's test client), on a fresh,
    migrated database: the in-process benchmarks add their own accounts."""
    os.environ["INSTANCE_PATH"] = str(work / "instance")
    import flask_migrate

    from quiz import create_app
    from quiz.config import PROJECT_ROOT

    app = create_app(
        {
            "SECRET_KEY": "bench-secret-key-not-for-production",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "CONTENT_DIR": str(content_dir),
            "RATELIMIT_ENABLED": False,
        }
    )
    with app.app_context():
        flask_migrate.upgrade(directory=str(PROJECT_ROOT / "migrations"))
    return app


def app_env(database_url: str, content_dir: Path, instance: Path, **extra: str) -> dict:
    """The environment the app (CLI and gunicorn) runs with for a benchmark."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        INSTANCE_PATH=str(instance),
        CONTENT_DIR=str(content_dir),
        SECRET_KEY="bench-secret-key-not-for-production",
        # Every virtual learner signs in from 127.0.0.1. Only failed sign-ins count against an
        # address, but the limit is not under test and must never enter the figures.
        LOGIN_RATE_LIMIT="100000 per minute",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def flask_cli(env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(BIN / "flask"), "--app", "app", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if check and result.returncode != 0:
        raise SystemExit(f"flask {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


@dataclass
class Learner:
    email: str
    name: str
    job_role: str
    specialty: str | None
    work_state: str | None = None


def create_learners(
    env: dict,
    count: int,
    roles: list[tuple[str, str | None]],
    prefix: str = "bench",
    work_state: str | None = None,
) -> list[Learner]:
    """Insert ``count`` learner accounts directly, all sharing one pre-computed Argon2id hash,
    and all reporting to one supervisor account (as staff from a roster do: their evidence
    names the supervisor, which costs the app a join when it loads the learner to write).

    Runs in a child process so this process never opens a database connection or imports the
    app's database state (the app's own accounts code makes the hash, so its parameters match).
    """
    learners = [
        Learner(
            f"{prefix}-{i:04d}@example.org", f"{prefix.title()} Learner {i:04d}", *roles[i % len(roles)], work_state
        )
        for i in range(count)
    ]
    payload = json.dumps([learner.__dict__ for learner in learners])
    script = r"""
import json, sys
from datetime import datetime, timezone
from sqlalchemy import insert
from quiz import create_app, accounts
from quiz.db import db
from quiz.models import User
learners = json.loads(sys.stdin.read())
app = create_app()
with app.app_context():
    shared = accounts.hash_password(sys.argv[1])
    now = datetime.now(timezone.utc)
    common = dict(password_hash=shared, department="Bench", active=True, session_version=1,
                  failed_logins=0, created_at=now)
    boss = db.session.execute(insert(User.__table__).returning(User.__table__.c.id), dict(
        email=sys.argv[2] + "-supervisor@example.org", name=sys.argv[2].title() + " Supervisor",
        role="manager", job_role="leadership", **common)).scalar_one()
    rows = [dict(email=l["email"], name=l["name"], role="learner", supervisor_id=boss,
                 job_role=l["job_role"], specialty=l["specialty"], **common,
                 **({"work_state": l["work_state"]} if l.get("work_state") else {})) for l in learners]
    db.session.execute(insert(User.__table__), rows)
    db.session.commit()
    db.engine.dispose()
"""
    result = subprocess.run(
        [sys.executable, "-c", script, PASSWORD, prefix],
        input=payload,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise SystemExit(f"creating learners failed:\n{result.stderr}")
    return learners


# ----------------------------------------------------------------------------------- content


def content_facts(content_dir: Path, allow_errors: bool = False) -> tuple[dict, list, list, str | None]:
    """The answer key (what each choice is worth, and whether it can keep a walk looping), the
    (job role, specialty) pairs that have training, those whose scenarios have a loop (for the
    answers phase), and the module to take if there is only one."""
    from quiz.content import load_library

    lib = load_library(content_dir)
    if lib.errors and not allow_errors:
        raise SystemExit("content has errors:\n" + "\n".join(map(str, lib.errors)))
    key: dict[str, dict] = {}
    for s in lib.all_scenarios():
        loopable = {nid for nid, n in s.nodes.items() if not n.is_ending}
        changed = True
        while changed:  # keep only decisions with a choice that stays among such decisions
            changed = False
            for nid in list(loopable):
                if not any(c.target in loopable for c in s.nodes[nid].choices):
                    loopable.discard(nid)
                    changed = True
        for n in s.nodes.values():
            for c in n.choices:
                key[f"{s.title}\x1f{n.title}\x1f{c.label}"] = {
                    "points": c.points,
                    "critical": c.critical,
                    "loops": c.target in loopable,
                }
    roles: list[tuple[str, str | None]] = []
    for module in sorted(lib.modules.values(), key=lambda m: m.id):
        specialties = {None} | {spec for sid in module.scenario_ids for spec in lib.scenarios.get(sid, {}) if spec}
        for role in module.roles:
            for spec in sorted(specialties, key=lambda x: x or ""):
                if module.is_for(role, spec) and (role, spec) not in roles:
                    roles.append((role, spec))

    def loops(role, spec):
        for module in lib.modules_for(role, spec):
            for sid in module.scenario_ids:
                scenario = lib.scenario_for(sid, spec)
                if scenario and any(
                    key.get(f"{scenario.title}\x1f{n.title}\x1f{c.label}", {}).get("loops")
                    for n in scenario.nodes.values()
                    for c in n.choices
                ):
                    return True
        return False

    loop_roles = [r for r in roles if loops(*r)] or roles
    module = next(iter(lib.modules)) if len(lib.modules) == 1 else None
    return key, roles, loop_roles, module


# ---------------------------------------------------------------------------------- gunicorn


@dataclass
class Server:
    proc: subprocess.Popen
    port: int
    log: Path
    label: str
    started: float = field(default_factory=time.monotonic)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def pids(self) -> list[int]:
        """The master and its workers."""
        import psutil

        try:
            master = psutil.Process(self.proc.pid)
            return [master.pid, *(c.pid for c in master.children(recursive=True))]
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: gunicorn's graceful shutdown
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def errors(self) -> dict[str, int]:
        """Exception lines in the log (the last line of each traceback), with counts."""
        import re
        from collections import Counter

        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return {}
        found = re.findall(r"^([A-Za-z_][\w.]*(?:Error|Exception|Timeout)\b.*)$", text, re.M)
        found += re.findall(r"^.*\[CRITICAL\].*$|^.*WORKER TIMEOUT.*$", text, re.M)
        return dict(Counter(line[:200] for line in found))

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def start_gunicorn(
    app_spec: str,
    env: dict,
    logdir: Path,
    *,
    workers: int,
    threads: int,
    label: str,
    ready_path: str = "/",
    chdir: Path = ROOT,
) -> Server:
    """gunicorn on loopback with the gthread worker and ``--preload``, as `make run` and the
    operations guide serve Rounds: the app is built once and the workers forked from it (each
    opens its own database connections after the fork). The baseline and the floor are served
    the same way."""
    port = free_port()
    log = logdir / f"gunicorn-{label}.log"
    cmd = [
        str(BIN / "gunicorn"),
        "--bind",
        f"{LOOPBACK}:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(threads),
        "--preload",
        "--keep-alive",
        "30",
        "--graceful-timeout",
        "10",
        "--timeout",
        "60",
        "--log-level",
        "warning",
        "--chdir",
        str(chdir),
        app_spec,
    ]
    # gunicorn's own messages and the app's log (tracebacks of 500s) both go to the log file.
    with open(log, "ab") as fh:
        proc = subprocess.Popen(cmd, cwd=chdir, env=env, stdout=fh, stderr=subprocess.STDOUT)
    server = Server(proc, port, log, label)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn ({label}) exited at start:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(server.url + ready_path, timeout=2) as r:
                r.read()
            break
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.2)
    else:
        server.stop()
        raise SystemExit(f"gunicorn ({label}) did not answer within 30 s:\n{server.log_tail()}")
    # With --preload the first worker answers at once, while the master forks the others up to
    # 0.1 s apart: wait for all of them, or a phase's CPU figures would miss the late ones (their
    # CPU was reported as "other processes" until this wait was added).
    while len(server.pids()) < workers + 1:
        if time.monotonic() >= deadline:
            server.stop()
            raise SystemExit(
                f"gunicorn ({label}) started {len(server.pids()) - 1} of {workers} workers "
                f"within 30 s:\n{server.log_tail()}"
            )
        time.sleep(0.05)
    # Each worker answers its first request slower (imports, template compile): touch both.
    for _ in range(workers * 4):
        try:
            with urllib.request.urlopen(server.url + ready_path, timeout=5) as r:
                r.read()
        except Exception:  # noqa: BLE001
            pass
    return server


def cpu_seconds(pids: list[int]) -> float:
    """User+system CPU seconds used so far by these processes (0 for ones that are gone)."""
    import psutil

    total = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def postgres_cpu_seconds() -> float:
    """CPU seconds used so far by the local PostgreSQL server's processes."""
    import psutil

    total = 0.0
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] in ("postgres", "postmaster"):
            try:
                t = proc.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
    return total


def process_cpu() -> dict[int, tuple[str, float]]:
    """Every process's name and CPU seconds so far, by pid: compared before and after a phase, it
    names what else kept the machine busy (``busiest_others``)."""
    import psutil

    seen: dict[int, tuple[str, float]] = {}
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            t = proc.cpu_times()
        except psutil.Error:
            continue
        cmd = proc.info["cmdline"] or []
        # "python -m pytest ..." says more than "python"; kernel threads have no command line.
        label = (
            " ".join(Path(cmd[0]).name if i == 0 else a for i, a in enumerate(cmd[:3]))
            if cmd
            else f"[{proc.info['name']}]"
        )
        seen[proc.pid] = (" ".join(label.split())[:60], t.user + t.system)
    return seen


def busiest_others(
    before: dict[int, tuple[str, float]],
    after: dict[int, tuple[str, float]],
    exclude: set[int],
    seconds: float,
    n: int = 3,
) -> list[tuple[str, float]]:
    """The ``n`` processes outside ``exclude`` that used the most CPU between two ``process_cpu``
    snapshots, in cores, grouped by label. A process that both started and ended in between is
    not seen."""
    used: dict[str, float] = {}
    for pid, (label, cpu) in after.items():
        if pid in exclude or label.startswith("postgres"):
            continue
        used[label] = used.get(label, 0.0) + cpu - before.get(pid, (label, 0.0))[1]
    top = sorted(used.items(), key=lambda kv: -kv[1])[:n]
    return [(label, cpu / max(seconds, 1e-9)) for label, cpu in top if cpu > 0]


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has been busy so far (all processes, all cores).

    Not counting time the hypervisor gave to other machines (steal): that is not this
    machine's processes at work, see ``stolen_cpu_seconds``."""
    import psutil

    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0) - getattr(t, "steal", 0.0)


def stolen_cpu_seconds() -> float:
    """CPU seconds so far that this VM's cores were ready to run but the hypervisor ran another
    machine instead (``steal`` in /proc/stat). A shared VM's figures are slowed by it."""
    import psutil

    return getattr(psutil.cpu_times(), "steal", 0.0)


def wait_for_quiet(max_wait: float, threshold: float = 0.3, sample: float = 3.0) -> float:
    """Wait (up to ``max_wait`` s) until the machine's busy CPU is below ``threshold`` cores over
    a ``sample``-second look: other people's test runs on a 2-core machine skew every figure.
    Returns the busy cores seen last."""
    deadline = time.monotonic() + max_wait
    while True:
        b0 = busy_cpu_seconds()
        time.sleep(sample)
        busy = (busy_cpu_seconds() - b0) / sample
        if busy < threshold or time.monotonic() >= deadline:
            return busy
        say(f"  machine busy ({busy:.2f} cores used by other processes); waiting for it to settle ...")


def add_quiet_wait(ap, default: float, before: str) -> None:
    """``--quiet-wait``: how long to wait for the machine to go quiet (``wait_for_quiet``)."""
    ap.add_argument(
        "--quiet-wait",
        type=float,
        default=default,
        help=f"before {before} wait up to this many seconds for other processes to go quiet (0: don't)",
    )


def rmtree_quiet(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
