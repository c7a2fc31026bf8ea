"""The layers of docs/architecture.md hold: who may import whom, and who may end a transaction.

Read from the source with the ``ast`` module (no import of the code, no extra tool): every
``import`` anywhere in a module (inside functions too) and every method call named commit,
rollback or begin. The layers:

- content core: ``quiz/content/`` (no Flask, no database) imports nothing else from ``quiz`` but
  ``quiz/words.py`` (counted words), which every layer may import and which imports nothing from
  ``quiz`` itself;
- domain core: the other modules of ``quiz/`` but ``__init__.py`` (``create_app``, which puts the
  layers together), ``cli.py`` and ``web/``: they never import the web layer, the command line
  or request-bound objects, and never begin, commit or roll back a transaction (``db.py`` is
  where the web and command-line layers get the tools for that);
- web: one blueprint per audience; a blueprint never imports another one, nor ``quiz.web``
  itself (whose ``__init__`` imports them all); what they share is in modules that import no
  blueprint (``common``, ``units``, ``access``, ``htmx``, ...);
- command line: ``cli.py``.
"""

from __future__ import annotations

import ast
from pathlib import Path

QUIZ = Path(__file__).resolve().parent.parent / "quiz"

#: What a request is, or is for: never seen by the core layers.
REQUEST_BOUND = {
    "flask": {"request", "session", "g", "current_app"},
    "flask_login": {"current_user"},
}
#: All a domain core module may take from quiz.db: the handle, and what says which database it
#: is; ``Steps`` is the type of the steps a job is given (and their default for a caller with no
#: layer, such as a test). The unit-of-work tools (writing, reading, unit_of_work, ...) are not.
CORE_MAY_TAKE_FROM_DB = {"db", "Base", "is_postgresql", "real_session", "Steps"}
ENDS_A_TRANSACTION = {"commit", "rollback", "begin", "begin_twophase"}
#: Counted words ("1 person", "2 people"): imported by every layer, the content core too; it
#: imports nothing from quiz.
WORDS = "quiz.words"


def _name(path: Path) -> str:
    parts = list(path.relative_to(QUIZ.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {_name(p): p for p in sorted(QUIZ.rglob("*.py"))}
TREES: dict[str, ast.Module] = {
    name: ast.parse(path.read_text(encoding="utf-8"), str(path)) for name, path in MODULES.items()
}


def _package(name: str) -> str:
    return name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]


def imports(name: str) -> list[tuple[int, str, str | None]]:
    """(line, module imported, name taken from it or None) for every import in a module, with
    relative imports resolved, and ``from package import submodule`` as the submodule."""
    found = []
    for node in ast.walk(TREES[name]):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package(name)
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                if submodule in MODULES:
                    found.append((node.lineno, submodule, None))
                else:
                    found.append((node.lineno, base, alias.name))
    return found


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _is_core(name: str) -> bool:
    return not (name == "quiz" or name == "quiz.cli" or _within(name, "quiz.web") or _within(name, "quiz.content"))


def _blueprints() -> dict[str, str]:
    """Each module of the web layer that belongs to a blueprint -> that blueprint's module: the
    module that makes ``bp = Blueprint(...)``, with, for a package, every module in it."""
    owners = {}
    for name, tree in TREES.items():
        for node in tree.body:
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Call)
                and getattr(node.value.func, "id", None) == "Blueprint"
            ):
                owners[name] = name
    for name in MODULES:
        for owner in owners.copy().values():
            if MODULES[owner].name == "__init__.py" and _within(name, owner):
                owners[name] = owner
    return owners


def test_the_layers_are_found():
    """The checks below look at what they should: a change of layout must not empty them."""
    assert {"quiz.engine", "quiz.evidence", "quiz.accounts", "quiz.db"} <= {n for n in MODULES if _is_core(n)}
    assert set(_blueprints().values()) >= {
        "quiz.web.auth",
        "quiz.web.learn",
        "quiz.web.manage",
        "quiz.web.author",
        "quiz.web.audit",
        "quiz.web.admin",
    }
    assert (6, "quiz.web.common", None) not in imports("quiz.web.learn")  # sanity of the resolver
    assert any(target == "quiz.web.common" for _, target, _ in imports("quiz.web.learn"))


def test_the_core_never_imports_the_web_layer_the_command_line_or_request_objects():
    found = []
    for name in filter(_is_core, MODULES):
        for line, target, taken in imports(name):
            if _within(target, "quiz.web") or target == "quiz.cli" or (target == "quiz" and taken in ("web", "cli")):
                found.append(f"{name}:{line} imports {target}")
            if target == "flask" and taken is None:
                found.append(f"{name}:{line} imports flask whole")
            if taken in REQUEST_BOUND.get(target, ()):
                found.append(f"{name}:{line} imports {target}.{taken}")
    assert found == []


def test_content_imports_nothing_from_quiz_outside_quiz_content():
    found = [
        f"{name}:{line} imports {target}"
        for name in MODULES
        if _within(name, "quiz.content")
        for line, target, _ in imports(name)
        if _within(target, "quiz") and not _within(target, "quiz.content") and target != WORDS
    ]
    assert found == []


def test_words_imports_nothing_from_quiz():
    """quiz/words.py is below every layer (the content core imports it): it takes nothing from them."""
    assert any(target == WORDS for name in MODULES if _within(name, "quiz.content") for _, target, _ in imports(name))
    assert [target for _, target, _ in imports(WORDS) if _within(target, "quiz")] == []


def test_no_blueprint_imports_another_nor_the_web_package_and_shared_modules_import_none():
    owners = _blueprints()
    found = []
    for name in MODULES:
        if not _within(name, "quiz.web") or name == "quiz.web":
            continue  # quiz/web/__init__.py builds the web part: it imports every blueprint
        mine = owners.get(name)
        for line, target, _ in imports(name):
            if target == "quiz.web":
                found.append(f"{name}:{line} imports quiz.web (import the shared helper from its own module)")
            theirs = owners.get(target)
            if theirs is not None and theirs != mine:
                found.append(f"{name}:{line} imports the {theirs} blueprint")
    assert found == []


def _calls_ending_a_transaction(name: str) -> list[str]:
    return [
        f"{name}:{node.lineno} calls .{node.func.attr}()"
        for node in ast.walk(TREES[name])
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ENDS_A_TRANSACTION
    ]


def test_the_core_never_begins_commits_or_rolls_back_a_transaction():
    """Only the web and command-line layers do, with db.py's tools (``begin_nested``, a savepoint
    inside the caller's transaction, is allowed)."""
    found = []
    for name in filter(_is_core, MODULES):
        if name == "quiz.db":
            continue  # the tools themselves
        found += _calls_ending_a_transaction(name)
        for line, target, taken in imports(name):
            if target == "quiz.db" and taken is not None and taken not in CORE_MAY_TAKE_FROM_DB:
                found.append(f"{name}:{line} takes {taken} from quiz.db (a tool of the web and command-line layers)")
        for node in ast.walk(TREES[name]):  # nor as SQL: text("COMMIT"), exec_driver_sql("BEGIN")
            if (
                isinstance(node, ast.Call)
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
                and getattr(node.func, "id", getattr(node.func, "attr", None)) in ("text", "exec_driver_sql", "execute")
            ):
                words = node.args[0].value.strip().upper().split()
                if words and words[0] in ("BEGIN", "COMMIT", "ROLLBACK", "END", "SAVEPOINT", "RELEASE"):
                    found.append(f"{name}:{node.lineno} sends {words[0]} itself")
    assert found == []


def test_views_and_commands_leave_commits_to_their_declared_unit():
    """In the web layer and the command line, only the unit a view or command declares commits
    (quiz/web/units.py, db.unit_of_work): no view or command calls commit or rollback itself."""
    found = []
    for name in MODULES:
        if (_within(name, "quiz.web") and name != "quiz.web.units") or name == "quiz.cli":
            found += _calls_ending_a_transaction(name)
    assert found == []


def test_one_helper_makes_a_stored_time_utc_aware():
    """``models.as_utc``; nobody else tags a naive datetime as UTC."""
    found = [
        f"{name}:{node.lineno}"
        for name in MODULES
        if name != "quiz.models"
        for node in ast.walk(TREES[name])
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "replace"
        and any(k.arg == "tzinfo" for k in node.keywords)
    ]
    assert found == []
