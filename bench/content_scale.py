"""Content at scale: 1,000 modules, each with its own scenario.

    .venv/bin/python bench/content_scale.py                # 1,000 modules, 3 cold runs
    .venv/bin/python bench/content_scale.py --modules 2000 --runs 5 --keep

1. Generates N modules and N scenarios (5-10 nodes each, varied shapes: chains, "try again"
   loops, critical choices, several endings; lesson screens with lists, links, tables) in a temp
   dir, written to the rules in docs/authoring.md, and checks they all load without errors.
2. Times ``quiz.content.load_library`` on them cold, each run in a fresh Python process (empty
   parse cache; imports done before the clock starts). There is no target: the 2 s one was
   withdrawn when the content came to be rendered by Python-Markdown as published, with no
   speed layer of our own (bench/README.md). Also times a warm reload in the same process
   (parse cache hit) and the running server's periodic check for changed files
   (``ContentStore.refresh`` with nothing changed).
3. Builds the app on that content (SQLite in the temp dir), signs a learner in and renders
   learner pages (My training, overview, lesson screens, questions, htmx answers) while
   counting calls to Markdown conversion, the sanitizer and the content parsers: rendering a
   page must not parse Markdown (everything is rendered once, at load).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, add_quiet_wait, machine_line, rmtree_quiet, say, table, wait_for_quiet  # noqa: E402

ROLES = ("case-manager", "front-desk", "pharmacy", "business-associate", "clinical", "billing", "it", "leadership")
WORDS = (
    "patient chart caller privacy officer record request minimum necessary verify identity authority "
    "family portal fax email badge screen lock shred disclose consent representative notice breach "
    "report policy clinic pharmacy counter billing vendor referral appointment results"
).split()


def _sentence(rng: random.Random, n: int | None = None) -> str:
    words = [rng.choice(WORDS) for _ in range(n or rng.randint(8, 18))]
    return " ".join(words).capitalize() + "."


def _paragraph(rng: random.Random) -> str:
    return " ".join(_sentence(rng) for _ in range(rng.randint(2, 4)))


def _screen_body(rng: random.Random, i: int) -> str:
    parts = [_paragraph(rng)]
    kind = i % 4
    if kind == 0:
        parts.append("\n".join(f"- {_sentence(rng, 6)}" for _ in range(rng.randint(2, 4))))
    elif kind == 1:
        parts.append(f"Read *more* in the [policy](https://example.org/policy/{i}) and ask **your** supervisor.")
    elif kind == 2:
        parts.append("| Who | What |\n|---|---|\n| Caller | Verify first |\n| Family | Only what is relevant |")
    else:
        parts.append("1. " + _sentence(rng, 5) + "\n2. " + _sentence(rng, 5))
    parts.append(_paragraph(rng))
    return "\n\n".join(parts)


def scenario_text(n: int, rng: random.Random) -> tuple[str, int]:
    """A scenario with 5-10 nodes and its pass mark: the score of a walk of only correct and
    partly correct choices, which any wrong choice stays below (the scoring rules of
    docs/authoring.md).

    Shape: k decision points in a chain (choice "a" moves on and scores 2); every decision also
    has a wrong choice, which either loops back to an earlier decision (a "try again") or ends
    badly; some have a critical choice ending in a disclosure. Endings: a good one, a bad one,
    and sometimes a "reported" one, reached by a partly correct choice (1 point) at the last
    decision.
    """
    total = rng.randint(5, 10)
    endings = 2 if total < 7 else 3
    k = total - endings
    sid = f"scenario-{n:04d}"
    lines = [
        "---",
        f"id: {sid}",
        f"title: Scenario {n} ({k} decisions)",
        "start: d1",
        "cites: [45 CFR 164.514(h)]",
        "---",
        "",
        f"# Scenario {n}",
        "",
    ]
    for i in range(1, k + 1):
        objective = "objective-a" if i % 2 else "objective-b"
        lines += [f"## Decision {i} of scenario {n} {{#d{i}}}", f"Objective: {objective}", "", _paragraph(rng), ""]
        nxt = f"d{i + 1}" if i < k else "good-end"
        lines += [f"### Do the right thing at step {i} -> {nxt}", "Points: 2", "", _paragraph(rng), ""]
        if i > 1 and rng.random() < 0.5:
            lines += [
                f"### Skip the check at step {i} -> d{i - 1}",
                "Points: 0",
                "",
                "You have to go back. " + _sentence(rng),
                "",
            ]
        else:
            lines += [f"### Guess at step {i} -> bad-end", "Points: 0", "", _paragraph(rng), ""]
        if rng.random() < 0.4:
            lines += [
                f"### Send the whole record at step {i} -> bad-end",
                "Points: 0",
                "Critical: yes",
                "",
                "This is critical: it discloses far more than needed. " + _sentence(rng),
                "",
            ]
        if endings == 3 and i == k:
            lines += [
                f"### Report it to the privacy officer at step {i} -> reported-end",
                "Points: 1",
                "",
                _sentence(rng),
                "",
            ]
    lines += ["## It went well {#good-end}", "Ending: Records protected", "", _paragraph(rng), ""]
    lines += ["## It went badly {#bad-end}", "Ending: Unverified disclosure", "", _paragraph(rng), ""]
    if endings == 3:
        lines += ["## Reported {#reported-end}", "Ending: Incident reported", "", _paragraph(rng), ""]
    return "\n".join(lines), 2 * k - (1 if endings == 3 else 0)


def module_text(n: int, rng: random.Random, pass_score: int) -> str:
    roles = sorted(set(rng.sample(ROLES, rng.randint(1, 3))))
    screens = rng.randint(2, 5)
    lines = [
        "---",
        f"id: module-{n:04d}",
        f'title: "Module {n}: {_sentence(rng, 4)[:-1]}"',
        f"roles: [{', '.join(roles)}]",
        f"minutes: {rng.randint(2, 6)}",
        "objectives:",
        f"  objective-a: {_sentence(rng, 8)}",
        f"  objective-b: {_sentence(rng, 8)}",
        "cites:",
        "  - 45 CFR 164.514(h)",
        "  - 45 CFR 164.502(b)",
        "policy:",
        f"  name: Policy {n}",
        f'  version: "{rng.randint(1, 4)}.{rng.randint(0, 9)}"',
        f"pass_score: {pass_score}",
        f"scenarios: [scenario-{n:04d}]",
        "acknowledgement: >",
        f"  I have completed module {n} and I will follow the policy.",
        "---",
        "",
        f"# Module {n}",
        "",
    ]
    for i in range(screens):
        lines += [f"## Screen {i + 1} of module {n}", "", _screen_body(rng, i), ""]
    lines += ["## Manager notes", "", _paragraph(rng), ""]
    return "\n".join(lines)


def add_generator_options(ap: argparse.ArgumentParser) -> None:
    """``--modules`` and ``--seed``: how much content ``generate`` makes, and which."""
    ap.add_argument("--modules", type=int, default=1000, help="modules to generate, each with its scenario")
    ap.add_argument("--seed", type=int, default=7, help="random seed of the generated content")


def generate(root: Path, count: int, seed: int) -> dict:
    rng = random.Random(seed)
    (root / "modules").mkdir(parents=True)
    (root / "scenarios").mkdir(parents=True)
    sizes = {"module_bytes": 0, "scenario_bytes": 0, "nodes": []}
    for n in range(1, count + 1):
        text, pass_score = scenario_text(n, rng)
        (root / "scenarios" / f"scenario-{n:04d}.md").write_text(text)
        sizes["scenario_bytes"] += len(text.encode())
        sizes["nodes"].append(len(re.findall(r"^## ", text, re.M)))
        mtext = module_text(n, rng, pass_score)
        (root / "modules" / f"module-{n:04d}.md").write_text(mtext)
        sizes["module_bytes"] += len(mtext.encode())
    return sizes


# The timing runs in a fresh interpreter per run: a cold parse cache, imports done first.
COLD = r"""
import json, sys, time
from pathlib import Path
from quiz.content import load_library, ContentStore
root = Path(sys.argv[1])
t = time.perf_counter(); lib = load_library(root); cold = time.perf_counter() - t
t = time.perf_counter(); load_library(root); warm = time.perf_counter() - t
store = ContentStore(root, min_interval=0)
t = time.perf_counter(); store.refresh(force=True); check = time.perf_counter() - t
print(json.dumps({"cold": cold, "warm": warm, "refresh_unchanged": check, "modules": len(lib.modules),
                  "scenarios": len(lib.all_scenarios()), "errors": [str(e) for e in lib.errors[:5]],
                  "error_count": len(lib.errors)}))
"""

# Counting Markdown work while pages render, in a warm app on the generated content.
RENDER = r"""
import json, os, re, sys, time
from collections import Counter
root, work = sys.argv[1], sys.argv[2]
os.environ["INSTANCE_PATH"] = work + "/instance"
import flask_migrate, markdown, nh3
from quiz import create_app, accounts
from quiz.config import PROJECT_ROOT
from quiz.db import db
import quiz.content.parse as parse_mod, quiz.content.library as library_mod

calls = Counter()
def counting(name, fn):
    def wrapper(*a, **kw):
        calls[name] += 1
        return fn(*a, **kw)
    return wrapper
markdown.Markdown.convert = counting("markdown.Markdown.convert", markdown.Markdown.convert)
markdown.markdown = counting("markdown.markdown", markdown.markdown)
nh3.clean = counting("nh3.clean", nh3.clean)
parse_mod.render_markdown = counting("render_markdown (one fragment)", parse_mod.render_markdown)
library_mod.parse_module = counting("parse_module", library_mod.parse_module)
library_mod.parse_scenario = counting("parse_scenario", library_mod.parse_scenario)
library_mod._parse_safely = counting("parse (cache miss)", library_mod._parse_safely)

app = create_app({"SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{work}/render.sqlite3",
                  "CONTENT_DIR": root, "RATELIMIT_ENABLED": False, "CONTENT_REFRESH_SECONDS": 2})
import gc
if os.environ.get("BENCH_GC_FREEZE", "1") == "1":
    gc.freeze()  # as app.py does after create_app()
collections = []  # (generation, ms) of each cycle-collector pass while pages render
_started = [0.0]
def _timing(phase, info):
    if phase == "start":
        _started[0] = time.perf_counter()
    elif measuring:
        collections.append((info["generation"], (time.perf_counter() - _started[0]) * 1000))
gc.callbacks.append(_timing)
measuring = False
with app.app_context():
    flask_migrate.upgrade(directory=str(PROJECT_ROOT / "migrations"))
    accounts.create_user(db.session, email="scale@example.org", name="Scale Learner",
                         password="scale learner passphrase", job_role="front-desk")
    db.session.commit()

c = app.test_client()
TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
STEP = re.compile(r'name="step" type="hidden" value="(\d+)"')
CHOICE = re.compile(r'name="choice"[^>]*value="([^"]+)">')
page = c.get("/auth/login").text
r = c.post("/auth/login", data={"email": "scale@example.org", "password": "scale learner passphrase",
                                "csrf_token": TOKEN.search(page).group(1)})
assert r.status_code == 303, r.status_code
listing = c.get("/learn/").text
modules = re.findall(r'href="/learn/([a-z0-9-]+)/"', listing)
timings = {"My training": [], "module page": [], "htmx answer": []}
pages = 0
before = dict(calls)
measuring = True
for module in modules[:5]:
    base = f"/learn/{module}/"
    t = time.perf_counter(); html = c.get(base).text; timings["module page"].append(time.perf_counter() - t); pages += 1
    for _ in range(40):
        view = re.search(r'class="step step-([a-z]+)"', html).group(1)
        data = {"csrf_token": TOKEN.search(html).group(1), "step": STEP.search(html).group(1)}
        if view == "overview" and "status-not-started" not in html:
            break
        if view == "question":
            data["choice"] = CHOICE.findall(html)[0]
            t = time.perf_counter()
            html = c.post(base + "answer", data=data, headers={"HX-Request": "true"}).text
            timings["htmx answer"].append(time.perf_counter() - t); pages += 1
            continue
        action = {"overview": "start", "lesson": "next", "ending": "continue", "acknowledge": "acknowledge"}[view]
        if view == "acknowledge":
            data.update(agree="y", full_name="Scale Learner")
        c.post(base + action, data=data)
        t = time.perf_counter(); html = c.get(base).text; timings["module page"].append(time.perf_counter() - t); pages += 1
        if view == "acknowledge":
            break
    t = time.perf_counter(); c.get("/learn/"); timings["My training"].append(time.perf_counter() - t); pages += 1
measuring = False
during = {k: calls[k] - before.get(k, 0) for k in calls}
full = [ms for generation, ms in collections if generation == 2]
print(json.dumps({"modules_listed": len(modules), "pages_rendered": pages, "calls_during_pages": during,
                  "gc": {"passes": len(collections), "full_passes": len(full), "longest_full_ms": max(full, default=0),
                         "longest_ms": max((ms for _, ms in collections), default=0), "frozen": gc.get_freeze_count()},
                  "calls_at_startup": before,
                  "timings_ms": {k: [round(x * 1000, 2) for x in v] for k, v in timings.items()}}))
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_generator_options(ap)
    ap.add_argument("--runs", type=int, default=3, help="cold load runs (each a fresh process)")
    ap.add_argument("--keep", action="store_true", help="keep the generated content")
    add_quiet_wait(ap, 120, "each timed run")
    args = ap.parse_args(argv)

    say(f"machine: {machine_line()}")
    work = Path(tempfile.mkdtemp(prefix="rounds-content-scale-"))
    root = work / "content"
    t = time.perf_counter()
    sizes = generate(root, args.modules, args.seed)
    say(
        f"generated {args.modules} modules + {args.modules} scenarios in {root} ({time.perf_counter() - t:.1f} s): "
        f"{sizes['module_bytes'] / 1e6:.1f} MB modules, {sizes['scenario_bytes'] / 1e6:.1f} MB scenarios, "
        f"nodes per scenario {min(sizes['nodes'])}-{max(sizes['nodes'])} (mean {statistics.mean(sizes['nodes']):.1f})"
    )

    runs = []
    for _ in range(args.runs):
        if args.quiet_wait:
            wait_for_quiet(args.quiet_wait)
        out = subprocess.run([sys.executable, "-c", COLD, str(root)], cwd=ROOT, capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(out.stderr)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    first = runs[0]
    if first["error_count"]:
        say(f"CONTENT ERRORS ({first['error_count']}), first ones:\n  " + "\n  ".join(first["errors"]))
    say(f"loaded {first['modules']} modules, {first['scenarios']} scenarios, {first['error_count']} errors")
    cold = [r["cold"] for r in runs]
    rows = [
        ["load_library, cold (fresh process)", *(f"{x:.2f}" for x in (min(cold), statistics.median(cold), max(cold)))],
        [
            "load_library, warm (parse cache hit)",
            *(
                f"{x:.3f}"
                for x in (
                    min(r["warm"] for r in runs),
                    statistics.median(r["warm"] for r in runs),
                    max(r["warm"] for r in runs),
                )
            ),
        ],
        [
            "ContentStore.refresh, no file changed",
            *(
                f"{x:.3f}"
                for x in (
                    min(r["refresh_unchanged"] for r in runs),
                    statistics.median(r["refresh_unchanged"] for r in runs),
                    max(r["refresh_unchanged"] for r in runs),
                )
            ),
        ],
    ]
    say(table(["seconds", "min", "median", "max"], rows))
    ok_content = first["error_count"] == 0
    say(
        f"cold load of {args.modules} modules: median {statistics.median(cold):.2f} s (no target; "
        f"{'every file loads' if ok_content else 'MISS: the generated content has errors'})"
    )

    out = subprocess.run([sys.executable, "-c", RENDER, str(root), str(work)], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-3000:])
    r = json.loads(out.stdout.strip().splitlines()[-1])
    say(
        f"\nwarm app on this content: {r['modules_listed']} modules listed for a front-desk learner; "
        f"{r['pages_rendered']} learner pages rendered (5 modules walked end to end)"
    )
    say(
        "calls while the app loaded the content (startup): "
        + ", ".join(f"{k} {v}" for k, v in sorted(r["calls_at_startup"].items()))
    )
    during = {k: v for k, v in r["calls_during_pages"].items() if v}
    say("calls while rendering the pages: " + (", ".join(f"{k} {v}" for k, v in sorted(during.items())) or "none"))
    for name, values in r["timings_ms"].items():
        if values:
            say(f"  {name}: {len(values)} renders, median {statistics.median(values):.1f} ms, max {max(values):.1f} ms")
    g = r["gc"]
    say(
        f"  cycle collector while rendering: {g['passes']} passes, {g['full_passes']} full "
        f"(longest full {g['longest_full_ms']:.1f} ms), longest of all {g['longest_ms']:.1f} ms; "
        f"{g['frozen']} objects frozen at start (app.py's gc.freeze(); BENCH_GC_FREEZE=0 leaves them in)"
    )
    ok_md = not during and r["pages_rendered"] > 0
    say(f"target: rendering a learner page parses no Markdown -> {'PASS' if ok_md else 'MISS'}")
    if args.keep:
        say(f"kept {work}")
    else:
        rmtree_quiet(work)
    return 0 if ok_content and ok_md else 1


if __name__ == "__main__":
    sys.exit(main())
