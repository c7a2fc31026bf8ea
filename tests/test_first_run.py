"""`make run` installs what running needs, and `make test` adds the test extras: a newcomer's first
run does not wait for pytest, Playwright, ruff and mypy (README, "The two commands")."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib

import pytest

from quiz.config import PROJECT_ROOT

#: What only the tests use, as imported (pyproject's `test` extra).
TEST_ONLY = ("pytest", "playwright", "aiosmtpd", "pypdf", "time_machine", "oidc_provider_mock", "ruff", "mypy")


def _planned(tmp_path, target: str) -> str:
    """The commands `make -n TARGET` would run on a fresh clone (no .venv yet)."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    for name in ("Makefile", "pyproject.toml", "tests/lrs/requirements.txt"):  # (the last: the LRS's venv)
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT_ROOT / name, tmp_path / name)
    done = subprocess.run(["make", "-n", target], cwd=tmp_path, capture_output=True, text=True, check=True)
    return done.stdout


def test_make_run_installs_what_running_needs_and_make_test_adds_the_extras(tmp_path):
    run = _planned(tmp_path, "run")
    assert "install -e .\n" in run and "[test]" not in run
    assert run.index("install -e .") < run.index("demo seed") < run.index("gunicorn")
    for target in ("test", "lint", "test-browser"):
        planned = _planned(tmp_path, target)
        assert "install -e '.[test]'" in planned, target
        assert planned.index("install -e .\n") < planned.index("install -e '.[test]'")
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    running = " ".join(project["dependencies"]).lower()
    assert not [name for name in ("pytest", "playwright", "ruff", "mypy") if name in running]


def test_the_app_starts_and_every_module_imports_without_the_test_extras(tmp_path):
    """What `make run` installs is enough: the app is built and every module of quiz imported
    while the test extras cannot be imported."""
    script = f"""
import importlib, importlib.abc, pkgutil, sys
class NoTestExtras(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {TEST_ONLY!r}:
            raise ImportError(f"{{name}} is a test extra")
        return None
sys.meta_path.insert(0, NoTestExtras())
import app, quiz
for found in pkgutil.walk_packages(quiz.__path__, "quiz."):
    importlib.import_module(found.name)
assert app.app.url_map is not None
print("ok")
"""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'rounds.sqlite3'}",
        "INSTANCE_PATH": str(tmp_path / "instance"),
    }
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
