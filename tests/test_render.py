"""The fast Markdown path gives byte-for-byte what stock Python-Markdown + nh3 gives.

Three speed-ups sit between a content file and its HTML: ``mdfast`` (Python-Markdown skipping
searches that cannot match), ``batch`` (all fragments of a file in one conversion) and ``pool``
(a cold load parsed on several processes). Each is checked here against the plain way.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import sys
import threading
import time
from pathlib import Path

import markdown
import pytest

from quiz.config import PROJECT_ROOT
from quiz.content import batch, load_library, mdfast, pool, render
from quiz.content import library as library_module
from quiz.content import parse as parse_mod

CONTENT_DIRS = [
    PROJECT_ROOT / "content",
    Path(__file__).parent / "data" / "content",
    Path(__file__).parent / "content_fixtures" / "content",
]

_stock = markdown.Markdown(extensions=list(render._EXTENSIONS), output_format="html")


def stock(text: str) -> str:
    """What render_markdown gave before any speed-up: stock Python-Markdown, then nh3."""
    try:
        html = _stock.convert(text)
    finally:
        _stock.reset()
    return render.clean(html)


def file_fragments() -> list[tuple[str, list[str]]]:
    """(path, the Markdown fragments the parser renders for it) for every content file."""
    found: list[tuple[str, list[str]]] = []
    seen: list[list[str]] = []
    real = parse_mod.render_many

    def recording(texts):  # type: ignore[no-untyped-def]
        seen.append(list(texts))
        return real(texts)

    parse_mod.render_many = recording
    try:
        for directory in CONTENT_DIRS:
            for path in sorted(directory.rglob("*.md")):
                seen.clear()
                text = path.read_bytes().decode("utf-8")
                if "scenarios" in path.parts:
                    parse_mod.parse_scenario(str(path), text)
                else:
                    parse_mod.parse_module(str(path), text)
                found.extend((str(path), texts) for texts in seen)
    finally:
        parse_mod.render_many = real
    return found


# ------------------------------------------------------------------------------ real content

def test_every_content_file_renders_as_with_stock_markdown(monkeypatch: pytest.MonkeyPatch) -> None:
    batches: list[bool] = []
    real_batch = batch._render_batch
    monkeypatch.setattr(batch, "_render_batch", lambda texts: _record(batches, real_batch(texts)))
    files = file_fragments()
    assert len(files) > 40
    for path, texts in files:
        expected = [stock(text) for text in texts]
        assert batch.render_many(texts) == expected, path
        assert [render.render_markdown(text) for text in texts] == expected, path
    assert batches and all(batches)  # the batch path is the one being checked, and it held


def test_a_file_is_sanitised_once_not_per_fragment(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = next(texts for _, texts in file_fragments() if len(texts) > 3 and all(map(batch._batchable, texts)))
    calls: list[str] = []
    real_clean = batch.clean
    monkeypatch.setattr(batch, "clean", lambda html: calls.append(html) or real_clean(html))
    assert batch.render_many(texts) == [stock(text) for text in texts]
    assert len(calls) == 1


def _record(log: list[bool], result):  # type: ignore[no-untyped-def]
    log.append(result is not None)
    return result


# ---------------------------------------------------------------------------- tricky inputs

TRICKY = [
    ["```\nunclosed fence", "after it", "```\nclosing one\n```"],  # the fence swallows a marker
    ["~~~\nopen", "text", "~~~"],
    ["<div>\nraw html, left open", "next fragment"],
    ["Mail <someone@example.org> or <https://example.org>", "plain"],
    ["<!-- a comment -->", "x"],
    ["[policy]: https://example.org/policy", "See [policy] and [policy][]."],  # definitions stay local
    ["See [policy].", "[policy]: https://example.org/policy"],
    ["- one\n- two", "A paragraph after a list."],
    ["- one\n- two", "    indented: code on its own, not part of the list"],
    ["1. one\n2. two\n", "3. three"],
    ["- item\n\n  continued", "- another list"],
    ["> quoted", "> another quote"],
    ["| a | b |\n|---|---|\n| 1 | 2 |", "| c |\n|---|\n| 3 |", "a | b\n--|--\n1 | 2"],
    ["    code block", "    another code block"],
    ["    code\n\n\n", "text"],
    ["", "   ", "\n\n", "text", ""],
    ["  \n    code after a line of spaces", "\t\nafter a tab line", "text"],
    ["Title\n=====", "---", "Sub\n---", "***"],
    ["# Heading #", "####### not a heading", "#hashtag"],
    ["line with a break  \nnext", "trailing spaces  ", "x"],
    ["**bold that does not close", "closes here**"],
    ["`code that does not close", "closes here`"],
    ["AT&T and &amp; and &copy; and &#169;", "Q&A"],
    ["carriage\r\nreturns", "and\rmore"],
    ["\x02control\x03 characters", "x"],
    [f"text naming the marker {batch._MARK}0", "x"],
    ["*", "_", "* * *", "- - -"],
    ["<script>alert(1)</script> and <iframe src=x></iframe>", "text"],
]


@pytest.mark.parametrize("texts", TRICKY, ids=range(len(TRICKY)))
def test_tricky_fragments_render_as_with_stock_markdown(texts: list[str]) -> None:
    expected = [stock(text) for text in texts]
    assert batch.render_many(texts) == expected
    assert [render.render_markdown(text) for text in texts] == expected


def test_unclosed_fence_falls_back_to_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    batches: list[bool] = []
    real_batch = batch._render_batch
    monkeypatch.setattr(batch, "_render_batch", lambda texts: _record(batches, real_batch(texts)))
    texts = ["```\nunclosed", "swallowed by the fence", "```"]
    assert batch.render_many(texts) == [stock(text) for text in texts]
    assert batches == [False]


def test_what_carries_over_or_needs_the_start_is_kept_out_of_batches() -> None:
    for text in ("<b>raw</b>", "[x]: https://example.org", "a\r\nb", "  \ntext", "\t\ntext", "", "  "):
        assert not batch._batchable(text), text
    for text in ("text", "\ntext", "- list", "    code", "a & b", "[link](https://example.org)"):
        assert batch._batchable(text), text


def test_split_needs_every_marker_in_order() -> None:
    mark = lambda n: f"\n<p>{batch._MARK}{n}</p>\n"  # noqa: E731
    assert batch._split(f"<p>a</p>{mark(0)}<p>b</p>{mark(1)}", 2) == ["<p>a</p>", "<p>b</p>"]
    assert batch._split(f"<p>a</p>{mark(1)}<p>b</p>{mark(0)}", 2) is None  # out of order
    assert batch._split(f"<p>a</p>{mark(0)}<p>b</p>", 2) is None  # one swallowed
    assert batch._split(f"<p>a</p>{mark(0)}<p>b</p>{mark(1)}<p>c</p>", 2) is None  # text after the last


SNIPPETS = [
    "Plain text.", "*em* **strong** ***both***", "_u_ __uu__ snake_case", "a * b", "`code` ``a`b``",
    "\\*escaped\\*", "[link](https://example.org)", "[ref][x]", "[x]: https://example.org/x", "![img](a.png)",
    "<https://auto.link>", "<b>inline</b>", "a < b", "<div>\nraw\n</div>", "&amp; &copy &#123; AT&T",
    "```", "```py\ncode\n```", "~~~\nx\n~~~", "    indented", "\tTab", "- a\n- b", "* a", "1. one\n2. two",
    "- a\n\n    more", "- a\n    - nested", "> quote\nlazy", "| a | b |\n|---|---|\n| 1 | 2 |", "x|y\n-|-",
    "# H", "###### H6", "Title\n===", "Sub\n---", "---", "***", "- - -", "hard  \nbreak", "   ", "", "=", "-",
]


def _fragment(rng: random.Random) -> str:
    text = rng.choice(SNIPPETS)
    for _ in range(rng.randint(0, 3)):
        text += rng.choice(["\n", "\n\n", " ", "\n\n\n", "\n   \n"]) + rng.choice(SNIPPETS)
    return rng.choice(["", "\n", "\n\n", "  \n"]) + text + rng.choice(["", "\n", "\n\n"])


def test_random_mixes_of_markdown_render_as_with_stock_markdown() -> None:
    rng = random.Random(20261123)
    for _ in range(400):
        texts = [_fragment(rng) for _ in range(rng.randint(2, 5))]
        expected = [stock(text) for text in texts]
        assert batch.render_many(texts) == expected, texts
        assert [render.render_markdown(text) for text in texts] == expected, texts


# ---------------------------------------------------------------------------------- mdfast

def test_mdfast_installs_on_the_stock_converter() -> None:
    md = markdown.Markdown(extensions=list(render._EXTENSIONS), output_format="html")
    assert mdfast.install(md) == ["NormalizeWhitespace", "FencedBlockPreprocessor", "HtmlBlockPreprocessor", "blocks", "inline", "unescape", "is_block_level"]
    needs = {type(p).__name__: needs for p, needs in md.parser._skipping}
    assert needs["HashHeaderProcessor"] == ("#",) and needs["ParagraphProcessor"] is None


def test_mdfast_always_tries_what_it_does_not_know() -> None:
    md = markdown.Markdown(extensions=list(render._EXTENSIONS), output_format="html")
    md.inlinePatterns.register(markdown.inlinepatterns.AsteriskProcessor(r"\+", md), "em_strong", 60)
    md.parser.blockprocessors.register(
        type("Hash", (markdown.blockprocessors.HashHeaderProcessor,), {})(md.parser), "hashheader", 70
    )
    mdfast.install(md)
    inline = md.treeprocessors["inline"]
    names = [item.name for item in md.inlinePatterns._priority]
    assert inline._needs[names.index("em_strong")] is None and inline._any is None
    assert inline._needs[names.index("link")] == ("[",)
    assert {type(p).__name__: needs for p, needs in md.parser._skipping}["Hash"] is None


# ------------------------------------------------------------------------------------ pool

def _square(kind: str, path: str, text: str) -> tuple[int, int]:
    if text == "boom":
        raise ValueError(text)
    return int(text) ** 2, os.getpid()


def _jobs(n: int) -> list[tuple[str, str, str]]:
    return [("module", f"{i}.md", str(i)) for i in range(n)]


def _can_fork() -> bool:
    return sys.platform.startswith("linux") and len(os.sched_getaffinity(0)) > 1


@pytest.fixture
def forking(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let the pool fork in this test even if other tests left threads running (the browser
    tests' server): the parses forked here take no lock those threads could hold, and a helper
    that hung would be given up on after a timeout, shortened here."""
    monkeypatch.setattr(pool.threading, "active_count", lambda: 1)
    monkeypatch.setattr(pool, "HELPER_TIMEOUT_SECONDS", 30.0)


def test_pool_parses_small_loads_here() -> None:
    results = pool.parse_many(_jobs(5) + [("module", "x.md", "boom")], _square)
    assert [r[0] if r else None for r in results] == [0, 1, 4, 9, 16, None]
    assert {r[1] for r in results if r} == {os.getpid()}


def _parse_in_both(parent: int, flag: Path, in_helper: str = "parse"):  # type: ignore[no-untyped-def]
    """A parse for which the parent waits, on its first job, until a helper has taken a chunk
    (touched ``flag``), so a helper's part is certain however fast the jobs are. In the helper:
    ``parse`` the job, ``die`` or ``hang``."""
    def parse(kind: str, path: str, text: str) -> tuple[int, int]:
        if os.getpid() != parent:
            flag.touch()
            if in_helper == "die":
                os._exit(3)
            if in_helper == "hang":
                time.sleep(3600)
        else:
            deadline = time.monotonic() + 20
            while not flag.exists() and time.monotonic() < deadline:
                time.sleep(0.001)
        return _square(kind, path, text)
    return parse


@pytest.mark.skipif(not _can_fork(), reason="needs Linux and 2+ CPUs")
def test_pool_results_match_and_helpers_are_reaped(forking: None, tmp_path: Path) -> None:
    jobs = _jobs(pool.MIN_JOBS + 7)
    jobs[100] = ("module", "x.md", "boom")
    results = pool.parse_many(jobs, _parse_in_both(os.getpid(), tmp_path / "flag"))
    assert [r[0] if r else None for r in results] == [
        int(text) ** 2 if text != "boom" else None for _, _, text in jobs
    ]
    assert len({r[1] for r in results if r}) > 1  # some came from a helper
    assert multiprocessing.active_children() == []


@pytest.mark.skipif(not _can_fork(), reason="needs Linux and 2+ CPUs")
def test_pool_parses_what_a_dead_helper_took(forking: None, tmp_path: Path) -> None:
    jobs = _jobs(pool.MIN_JOBS)
    results = pool.parse_many(jobs, _parse_in_both(os.getpid(), tmp_path / "flag", "die"))
    assert (tmp_path / "flag").exists()  # the helper did take a chunk before it died
    assert [r[0] for r in results] == [i * i for i in range(len(jobs))]
    assert {r[1] for r in results} == {os.getpid()}
    assert multiprocessing.active_children() == []


@pytest.mark.skipif(not _can_fork(), reason="needs Linux and 2+ CPUs")
def test_pool_gives_up_on_a_hung_helper_and_parses_what_it_took(
    forking: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(pool, "HELPER_TIMEOUT_SECONDS", 0.5)
    jobs = _jobs(pool.MIN_JOBS)
    results = pool.parse_many(jobs, _parse_in_both(os.getpid(), tmp_path / "flag", "hang"))
    assert [r[0] for r in results] == [i * i for i in range(len(jobs))]
    assert multiprocessing.active_children() == []


def test_pool_chunks_cover_every_job_once() -> None:
    for count, pieces in [(200, 32), (1000, 32), (7, 32), (33, 32), (1, 1)]:
        chunks = pool._chunks(count, pieces)
        assert [i for chunk in chunks for i in chunk] == list(range(count))
        assert len(chunks) <= pieces and all(chunks)


def test_a_chunk_lock_held_too_long_stops_the_taking(monkeypatch: pytest.MonkeyPatch) -> None:
    """A helper killed while holding the counter's lock must not stall the load: the parent
    stops taking chunks and parses whatever nobody returned."""
    monkeypatch.setattr(pool, "CLAIM_TIMEOUT_SECONDS", 0.05)
    counter = multiprocessing.get_context("fork").Value("i", 0)
    assert list(pool._claim(counter, 3)) == [0, 1, 2]
    counter.value = 0
    held, release = threading.Event(), threading.Event()

    def hold() -> None:  # another thread: the lock is re-entrant for its owner
        with counter.get_lock():
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        assert list(pool._claim(counter, 3)) == []
    finally:
        release.set()
        holder.join()


def test_pool_stays_in_process_when_threads_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pool.threading, "active_count", lambda: 2)
    assert pool._helpers(10_000) == 0


@pytest.mark.skipif(not _can_fork(), reason="needs Linux and 2+ CPUs")
def test_parallel_load_equals_sequential_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forking: None
) -> None:
    root = tmp_path / "content"
    for directory in CONTENT_DIRS:
        for path in directory.rglob("*.md"):
            kind = "scenarios" if "scenarios" in path.parts else "modules"
            (root / kind).mkdir(parents=True, exist_ok=True)
            (root / kind / f"{directory.parent.name}-{path.name}").write_bytes(path.read_bytes())
    (root / "modules" / "broken.md").write_text("---\nid: [\n---\n", encoding="utf-8")
    (root / "scenarios" / "broken.md").write_text("no front matter\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)

    monkeypatch.setattr(library_module, "_cache", {})
    monkeypatch.setattr(pool, "MIN_JOBS", 10**9)
    sequential = load_library(Path("content"))

    monkeypatch.setattr(library_module, "_cache", {})
    monkeypatch.setattr(pool, "MIN_JOBS", 2)
    forked: list[int] = []
    real_start = pool._start
    monkeypatch.setattr(pool, "_start", lambda *a: forked.append(1) or real_start(*a))
    parallel = load_library(Path("content"))

    assert forked and multiprocessing.active_children() == []
    assert parallel == sequential
    assert parallel.errors and len(parallel.modules) > 5


@pytest.mark.skipif(not _can_fork(), reason="needs Linux and 2+ CPUs")
def test_a_crash_in_a_helper_is_logged_and_reported_as_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, forking: None
) -> None:
    modules = tmp_path / "content" / "modules"
    modules.mkdir(parents=True)
    for i in range(6):
        (modules / f"m{i}.md").write_text(f"---\nid: m{i}\n---\n", encoding="utf-8")
    real = library_module.parse_module

    def crashing(path: str, text: str):  # type: ignore[no-untyped-def]
        if path.endswith("m3.md"):
            raise RuntimeError("boom")
        return real(path, text)

    monkeypatch.setattr(library_module, "parse_module", crashing)
    monkeypatch.setattr(library_module, "_cache", {})
    monkeypatch.setattr(pool, "MIN_JOBS", 2)
    monkeypatch.chdir(tmp_path)
    with caplog.at_level("ERROR", logger="quiz.content"):
        lib = load_library(Path("content"))
    crashed = [e for e in lib.errors if e.path.endswith("m3.md")]
    assert [e.message for e in crashed] == ["could not be read as a module (RuntimeError)"]
    assert [r.getMessage() for r in caplog.records] == ["unexpected failure parsing content/modules/m3.md"]


def test_markdown_that_once_looped_forever_renders() -> None:
    """Python-Markdown 3.10 looped forever on this (upstream #1578, fixed in 3.10.1): one such
    lesson would have stalled every content load. Pinned 3.10.3 must render it."""
    out: list[str] = []
    worker = threading.Thread(target=lambda: out.append(render.render_markdown("&#x; <!-- note -->")), daemon=True)
    worker.start()
    worker.join(10)
    assert out == ["<p>&amp;#x; </p>"]


def test_every_skip_applies_to_the_pinned_python_markdown() -> None:
    """A Python-Markdown upgrade that changes an expression silently turns its skip off (the
    output stays right, the load gets slower): this says which one to look at."""
    md = markdown.Markdown(extensions=["tables", "sane_lists", "fenced_code"], output_format="html")
    mdfast.install(md)
    known = {type(p): needs for p, needs in md.parser._skipping if type(p) in mdfast._BLOCK_NEEDS}
    assert set(known) == set(mdfast._BLOCK_NEEDS)
    assert [cls.__name__ for cls, needs in known.items() if needs is None] == []
    patterns = mdfast._ordered(md.inlinePatterns)
    assert [name for name, pattern in patterns if mdfast._inline_needs(name, pattern) is None] == []
