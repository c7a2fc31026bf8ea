"""Counted words (quiz/words.py): "1 person", "2 people", never "1 people" nor "person(s)".

Every counted phrase on a page, in a flash, an email or a command's output is one gettext
``ngettext`` message. The tests:

- every message in quiz/ and templates/, found by Babel's own extractor (what ``pybabel
  extract`` finds for a translation), read right for 0, 1 and 2: the singular for 1, the
  plural for 0 and 2, each with its number, and every ``ngettext`` call is one it can find;
- no plural made by hand is left in the source (``"s" if n != 1``, ``"(s)"``, ``"person" if``);
- a few real pages, emails and commands with 1 and 2;
- a catalog changes the words everywhere at once (what a translation later needs): a page, an
  email written by the core and the core's own words, with the catalog's own plural rule.
"""

from __future__ import annotations

import ast
import io
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo

from quiz import reminders, roster, words
from quiz.db import db
from quiz.models import NO_PASSWORD, User

from .helpers import add_user, close_app, csrf_token, make_app, page_text, run_cli, sign_in

ROOT = Path(__file__).resolve().parent.parent
QUIZ = ROOT / "quiz"
TEMPLATES = ROOT / "templates"
KEYWORDS = {"ngettext": (1, 2)}

#: Messages with a form that does not show its number, each for a reason: the number is plain
#: from the words ("this record"), or the message names the things counted instead.
NUMBERLESS = {
    "the header names the column %(names)s more than once",  # names them: "the columns a, b"
    "the header lacks the required column %(names)s",
    "unknown module: %(ids)s",
    "Download this record as CSV, every field the hash covers and the hash, in one of two files:",  # "this"
    "Download this assignment as CSV",
}


def _python_messages() -> list[tuple[str, int, tuple[str, str]]]:
    return [
        (f"quiz/{f}", line, m) for f, line, m, _, _ in extract_from_dir(QUIZ, [("**.py", "python")], keywords=KEYWORDS)
    ]


def _template_messages() -> list[tuple[str, int, tuple[str, str]]]:
    found = extract_from_dir(
        TEMPLATES,
        [("**.html", "jinja2.ext:babel_extract")],
        options_map={"**.html": {"newstyle_gettext": "true"}},
        keywords=KEYWORDS,
    )
    return [(f"templates/{f}", line, m) for f, line, m, _, _ in found]


MESSAGES = _python_messages() + _template_messages()
PLACEHOLDER = re.compile(r"%\((\w+)\)([sd])")


def _sample(singular: str, plural: str) -> dict:
    """A value for every named placeholder but the number: a word for %s, 7 for %d."""
    return {
        name: (7 if kind == "d" else "Ward B") for name, kind in PLACEHOLDER.findall(singular + plural) if name != "num"
    }


def _shows(text: str, n: int) -> bool:
    return re.search(rf"(?<![\d,.]){n}(?![\d,])", text) is not None


def test_the_extractor_finds_the_messages_of_the_code_and_the_pages():
    """So that the checks below cannot pass on nothing: the core, the command line, the web
    layer and the pages each have counted words."""
    files = {f for f, _, _ in MESSAGES}
    assert len(MESSAGES) >= 90, len(MESSAGES)
    assert {
        "quiz/cli.py",
        "quiz/reminders.py",
        "quiz/roster.py",
        "quiz/web/manage.py",
        "quiz/content/library.py",
        "templates/admin/roster_preview.html",
        "templates/manage/bulk_confirm.html",
    } <= files
    assert ("%(num)d person", "%(num)d people") in {m for _, _, m in MESSAGES}


def test_every_ngettext_call_is_one_the_extractor_finds():
    """A call Babel cannot see (in an f-string's braces, with a message built at run time) would
    never reach a catalog: each ``ngettext(...)`` in quiz/ is a call with two plain strings."""
    extracted: dict[str, int] = {}
    for f, _, _ in MESSAGES:
        extracted[f] = extracted.get(f, 0) + 1
    in_code: dict[str, int] = {}
    for path in sorted(QUIZ.rglob("*.py")):
        if path.name == "words.py" and path.parent == QUIZ:
            continue  # the definition, and the provider's own ngettext
        name = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "ngettext":
                literal = all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args[:2])
                assert literal, f"{name}:{node.lineno}: ngettext's singular and plural must be plain strings"
                in_code[name] = in_code.get(name, 0) + 1
    for path in sorted(TEMPLATES.rglob("*.html")):
        count = path.read_text(encoding="utf-8").count("ngettext(")
        if count:
            in_code[str(path.relative_to(ROOT))] = count
    assert in_code == extracted


@pytest.mark.parametrize("where, line, message", MESSAGES, ids=[f"{f}:{line}" for f, line, _ in MESSAGES])
def test_each_counted_phrase_reads_right_for_0_1_and_2(where, line, message):
    singular, plural = message
    assert singular != plural, "the same words for one and for many"
    variables = _sample(singular, plural)
    for n in (0, 1, 2):
        form = singular if n == 1 else plural
        text = words.ngettext(singular, plural, n, **variables)
        assert text == form % {"num": n, **variables}
        assert "(s)" not in text
        if "%(num)" in form:
            assert _shows(text, n), text
        else:
            assert singular in NUMBERLESS, f"{form!r} does not show its number"
    one = words.ngettext(singular, plural, 1, **variables)
    assert not re.search(r"(?<![\d,.])1 (people|[a-z]+s)\b(?! of\b)", one), one  # "1 records", "1 people"


# --- no plural by hand ---------------------------------------------------------------------

#: The ad hoc plurals the brief's grep looks for, as regular expressions over the source text.
BY_HAND = [
    r"""['"]s['"] if\b""",
    r"""\belse ['"]s['"]""",
    r"""['"](person|people|person is|people are)['"] if\b""",
    r"""['"][^'"{}\n]*['"] if [^{}%\n]*?[!=]= ?1\b""",  # "record" if n == 1 else "records"
]
IN_WORDS = re.compile(r"[A-Za-z]\(e?s\)")  # row(s), match(es)


def _by_hand_in_python(path: Path) -> list[str]:
    source = path.read_text(encoding="utf-8")
    found = []
    for pattern in BY_HAND:
        found += [
            f"{path.name}:{source.count(chr(10), 0, m.start()) + 1}: {m.group(0)}" for m in re.finditer(pattern, source)
        ]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and IN_WORDS.search(node.value):
            found.append(f"{path.name}:{node.lineno}: {node.value!r}")
        if (
            isinstance(node, ast.IfExp)
            and any(isinstance(b, ast.Constant) and isinstance(b.value, str) for b in (node.body, node.orelse))
            and isinstance(node.test, ast.Compare)
            and any(isinstance(op, ast.Eq | ast.NotEq) for op in node.test.ops)
            and any(isinstance(c, ast.Constant) and c.value == 1 for c in node.test.comparators)
        ):
            found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    return found


def _by_hand_in_template(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    found = []
    for pattern in [*BY_HAND, IN_WORDS.pattern]:
        found += [
            f"{path.name}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)}" for m in re.finditer(pattern, text)
        ]
    return found


def test_the_scan_finds_a_plural_made_by_hand(tmp_path):
    """The scan below can fail: each kind of hand-made plural is found in a sample."""
    code = tmp_path / "sample.py"
    code.write_text(
        "n = 2\n"
        "a = f\"{n} row{'s' if n != 1 else ''}\"\n"
        "b = f\"{n} {'person' if n == 1 else 'people'}\"\n"
        'c = f"{n} problem(s)"\n'
        'd = "record" if n == 1 else "records"\n'
    )
    page = tmp_path / "sample.html"
    page.write_text(
        '{{ n }} error{{ "s" if n != 1 }}\n{{ n }} {{ "record" if n == 1 else "records" }}\n{{ n }} digest(s)\n'
    )
    assert {line.split(":")[1] for line in _by_hand_in_python(code)} == {"2", "3", "4", "5"}
    assert {line.split(":")[1] for line in _by_hand_in_template(page)} == {"1", "2", "3"}


def test_no_plural_is_made_by_hand_in_the_code_or_the_pages():
    found = []
    for path in sorted(QUIZ.rglob("*.py")):
        found += _by_hand_in_python(path)
    for path in sorted(TEMPLATES.rglob("*.html")):
        found += _by_hand_in_template(path)
    assert found == []


# --- pages, emails and commands ------------------------------------------------------------


def _person(app, n: int, supervisor_id: int) -> int:
    with app.app_context():
        user = User(
            email=f"p{n}@example.org",
            name=f"Person {n}",
            password_hash=NO_PASSWORD,
            job_role="front-desk",
            employee_id=f"E{n}",
            department="Radiology",
            supervisor_id=supervisor_id,
        )
        db.session.add(user)
        db.session.commit()
        return user.id


def test_a_manager_assigning_to_one_person_reads_one_person(app):
    boss = add_user(app, email="boss@example.org", name="Mo Manager", role="manager", job_role="leadership")
    one = _person(app, 1, boss)
    client = app.test_client()
    assert sign_in(client, "boss@example.org").status_code == 303
    page = client.get("/manage/").text
    form = {
        "csrf_token": csrf_token(page),
        "module_id": "test-callers",
        "due_on": (date.today() + timedelta(days=10)).isoformat(),
        "person": [one],
        "department": "",
    }
    confirm_page = client.post("/manage/assign", data=form).text
    confirm = page_text(confirm_page)
    assert "Assign Test module on callers to 1 person?" in confirm and "Yes, assign to 1 person" in confirm
    assert "people" not in confirm.split("Assign Test module", 1)[1].split("No, go back")[0]
    done = client.post("/manage/assign", data={**form, "csrf_token": csrf_token(confirm_page), "confirmed": "yes"})
    assert "Assigned Test module on callers to 1 person." in page_text(client.get(done.headers["Location"]).text)


def _item(n: int, days_overdue: int, learner: int = 1) -> reminders.Item:
    return reminders.Item(n, f"m{n}", f"Module {n}", date(2026, 12, 1), days_overdue, learner, f"L{learner}", "l@x.org")


def _subject(kind: str, *items: reminders.Item) -> str:
    digest = reminders.Digest(kind, 1, "a@example.org", "Ana", items)
    return reminders.compose(digest, reminders.Settings(base_url="https://r.example"))[0]


def test_reminder_subjects_count_the_modules_and_the_people():
    assert _subject("digest", _item(1, -3)) == "Rounds: 1 module due soon"
    assert _subject("digest", _item(1, -3), _item(2, -1)) == "Rounds: 2 modules due soon"
    assert _subject("digest", _item(1, 4)) == "Rounds: 1 module overdue"
    assert _subject("digest", _item(1, 4), _item(2, -1), _item(3, -2)) == "Rounds: 1 module overdue and 2 due soon"
    assert _subject("escalation", _item(1, 9)) == "Rounds: overdue training for 1 person you supervise"
    assert _subject("escalation", _item(1, 9), _item(2, 9, learner=2)).endswith("for 2 people you supervise")
    digest = reminders.Digest("digest", 1, "a@example.org", "Ana", (_item(1, 1), _item(2, -2)))
    body = reminders.compose(digest, reminders.Settings(base_url="https://r.example"))[1]
    assert "Overdue by 1 day (was due" in body and "(in 2 days)" in body


ROSTER = "employee_id,email,name,job_role\nE1,al@example.org,Al Able,front-desk\nE2,bo@example.org,Bo Bell,nurse\n"


def test_the_roster_preview_with_one_problem_reads_one_problem_in_one_row(app, tmp_path):
    add_user(app, email="admin@example.org", name="Avery Admin", role="admin", job_role="leadership")
    client = app.test_client()
    assert sign_in(client, "admin@example.org").status_code == 303
    page = client.get("/admin/roster/import")
    upload = client.post(
        "/admin/roster/import",
        data={"csrf_token": csrf_token(page.text), "file": (io.BytesIO(ROSTER.encode()), "hr.csv")},
        content_type="multipart/form-data",
    )
    preview = page_text(client.get(upload.headers["Location"]).text)
    assert "1 problem: nothing can be imported until the file is fixed" in preview
    assert "1 problem in 1 row: nothing can be applied until it is fixed" in preview
    csv_file = tmp_path / "hr.csv"
    csv_file.write_text(ROSTER.replace("front-desk", "chef"))  # two bad rows now
    result = run_cli(app, "roster", "import", str(csv_file))
    assert result.exit_code == 1
    assert "bad rows (2 problems):" in result.output
    assert "2 problems in 2 rows: nothing can be applied until they are fixed" in result.output


# --- one catalog for every layer -----------------------------------------------------------


def _french(folder: Path) -> Path:
    """A small French catalog, compiled. French counts 0 as one; CLDR gives it three forms (one,
    many for millions, other)."""
    catalog = Catalog(locale="fr")
    for (singular, plural), (one, other) in {
        ("%(num)d person found.", "%(num)d people found."): (
            "%(num)d personne trouvée.",
            "%(num)d personnes trouvées.",
        ),
        ("Rounds: %(num)d module due soon", "Rounds: %(num)d modules due soon"): (
            "Rounds : %(num)d module à faire bientôt",
            "Rounds : %(num)d modules à faire bientôt",
        ),
        (
            "%(num)d problem in %(rows)s: nothing can be applied until it is fixed",
            "%(num)d problems in %(rows)s: nothing can be applied until they are fixed",
        ): ("%(num)d problème dans %(rows)s : rien n'est appliqué avant", "%(num)d problèmes dans %(rows)s : rien"),
        ("%(num)d row", "%(num)d rows"): ("%(num)d ligne", "%(num)d lignes"),
    }.items():
        catalog.add((singular, plural), (one,) + (other,) * (catalog.num_plurals - 1))
    where = folder / "fr" / "LC_MESSAGES"
    where.mkdir(parents=True)
    with open(where / "messages.mo", "wb") as mo:
        write_mo(mo, catalog)
    return folder


def test_a_catalog_changes_the_words_of_the_pages_the_emails_and_the_core_at_once(database_url, tmp_path, monkeypatch):
    app = make_app(
        database_url,
        tmp_path,
        monkeypatch,
        BABEL_DEFAULT_LOCALE="fr",
        BABEL_TRANSLATION_DIRECTORIES=str(_french(tmp_path / "translations")),
    )
    try:
        add_user(app, email="admin@example.org", name="Avery Admin", role="admin", job_role="leadership")
        client = app.test_client()
        assert sign_in(client, "admin@example.org").status_code == 303
        assert "1 personne trouvée." in page_text(client.get("/admin/roster").text)  # a page
        assert "0 personne trouvée." in page_text(client.get("/admin/roster?q=nobody").text)  # French: 0 is one
        with app.app_context():  # an email the core writes, and the core's own words
            assert _subject("digest", _item(1, -3), _item(2, -1)) == "Rounds : 2 modules à faire bientôt"
            assert roster.preview(db.session, ROSTER).summary() == "1 problème dans 1 ligne : rien n'est appliqué avant"
        # outside an app: English as written
        assert _subject("digest", _item(1, -3), _item(2, -1)) == "Rounds: 2 modules due soon"
    finally:
        close_app(app)


def test_words_take_their_forms_from_the_provider_given():
    """The one switch the web layer uses (``use_translations``), and back to English."""

    class ZeroIsOne:  # a plural rule of its own (French's): 0 takes the singular too
        def ngettext(self, singular: str, plural: str, n: int) -> str:
            return singular if n in (0, 1) else plural

    before = words._provider
    try:
        words.use_translations(ZeroIsOne)
        assert words.ngettext("%(num)d person", "%(num)d people", 0) == "0 person"
        assert words.ngettext("%(num)d person", "%(num)d people", 2) == "2 people"
        words.use_translations(None)
        assert words.ngettext("%(num)d person", "%(num)d people", 0) == "0 people"
        assert words.ngettext("%(num)d person", "%(num)d people", 1) == "1 person"
        assert words.ngettext("%(num)s record", "%(num)s records", 1234, num=format(1234, ",")) == "1,234 records"
    finally:
        words.use_translations(before)
