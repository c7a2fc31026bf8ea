"""Loading content from disk, caching parses, and keeping a live library for the server.

Which kind a file is: a file under a directory named ``modules`` is a module and one under
``scenarios`` is a scenario (the nearest such directory wins). A file elsewhere (only possible
through ``extra_paths``) is a module if its front matter has a ``pass_score:`` or ``scenarios:``
line, and a scenario otherwise. Those two fields exist only in modules, and the rule needs no
YAML, so even a broken file gets the right kind of error messages.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..words import ngettext
from .frontmatter import has_top_level_key, sniff_value
from .model import ContentError, Library, Module, Scenario, error_order
from .parse import parse_module, parse_scenario, version_of
from .timelimit import parse_within
from .validate import analyze_scenario, build_library

log = logging.getLogger("quiz.content")

Content = Module | Scenario
KINDS = ("module", "scenario")
#: The error a server adds to a file it serves as it last was without errors (``ContentStore``).
KEPT_NOTE = "the server keeps serving this file's last version without errors until this is fixed"


class StoredContentError(ValueError):
    """A stored version no longer parses; ``errors`` says why."""

    def __init__(self, errors: list[ContentError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


# ------------------------------------------------------------------------------ parse cache


@dataclass
class _Parsed:
    """One parse of one text, plus copies of it that name other paths (same text, other file)."""

    path: str
    content: Content | None
    errors: tuple[ContentError, ...]
    elsewhere: dict[str, tuple[Content | None, tuple[ContentError, ...]]] = field(default_factory=dict)

    def at(self, path: str) -> tuple[Content | None, list[ContentError]]:
        if path == self.path:
            return self.content, list(self.errors)
        moved = self.elsewhere.get(path)
        if moved is None:
            content = replace(self.content, path=path) if self.content is not None else None
            moved = self.elsewhere.setdefault(path, (content, tuple(replace(e, path=path) for e in self.errors)))
        return moved[0], list(moved[1])


_cache: dict[tuple[str, str], _Parsed] = {}
_cache_lock = threading.Lock()


def parse_cached(
    kind: str, path: str, text: str, version: str | None = None
) -> tuple[Content | None, list[ContentError]]:
    """Parse ``text`` as ``kind``, at most once per process for the same text.

    Scenarios come back with their score range filled in when their own graph is sound (it
    depends on the text alone). The cache only grows by one entry per distinct text seen, which
    is bounded by how often trainers edit files. The same text under another path gets a copy
    that names that path; the parse itself is still shared. ``version`` is the text's
    ``version_of`` when the caller already has it.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown content kind {kind!r}; expected one of {KINDS}")
    key = (kind, version or version_of(text))
    with _cache_lock:
        entry = _cache.get(key)
    if entry is None:
        content, errors = _parse_safely(kind, path, text)
        with _cache_lock:
            entry = _cache.setdefault(key, _Parsed(path, content, tuple(errors)))
    with _cache_lock:
        return entry.at(path)


def _parse(kind: str, path: str, text: str) -> tuple[Content | None, list[ContentError]]:
    if kind == "module":
        return parse_module(path, text)
    scenario, errors = parse_scenario(path, text)
    if scenario is not None:
        scenario = analyze_scenario(scenario)[0] or scenario
    return scenario, errors


def _parse_safely(kind: str, path: str, text: str) -> tuple[Content | None, list[ContentError]]:
    """Parse, turning an unexpected crash into a content error so one file cannot stop the rest."""
    try:
        return _parse(kind, path, text)
    except Exception as exc:  # noqa: BLE001 - deliberately broad; logged with traceback
        log.exception("unexpected failure parsing %s", path)
        return None, [ContentError(path, 0, f"could not be read as a {kind} ({type(exc).__name__})")]


def parse_stored(kind: str, path: str, source: str) -> Content:
    """Re-materialise a stored version ("module" or "scenario") for an attempt started on it.

    Raises StoredContentError (a ValueError) if it does not parse. A scenario's ``scores`` are
    filled in when its own graph checks pass, and left None otherwise. Text that would be an
    authoring error today (an image, stripped HTML: parse.py) does not stop a version a learner
    already took from opening: it was served as it is, and evidence refers to it.
    """
    content, errors = parse_cached(kind, path, source)
    if content is None:
        raise StoredContentError(errors)
    return content


# ---------------------------------------------------------------------------------- loading


def display_path(path: Path) -> str:
    """The path as errors show it: relative to the working directory when it is under it."""
    try:
        return path.absolute().relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path.as_posix()


def _read_file(path: Path) -> str:
    """The file's exact text (no newline translation, so the version hash matches the bytes)."""
    return path.read_bytes().decode("utf-8")


def _kind_by_location(path: Path) -> str | None:
    for part in reversed(path.absolute().parent.parts):
        if part == "modules":
            return "module"
        if part == "scenarios":
            return "scenario"
    return None


def _kind_by_content(text: str) -> str:
    return "module" if has_top_level_key(text, "pass_score", "scenarios") else "scenario"


#: A listed file: (mtime_ns, size, kind). Kind is "module", "scenario" or None (not under root).
Listed = tuple[int, int, str | None]


def _scan(directory: str, kind: str | None, found: dict[str, Listed], strays: list[str] | None = None) -> None:
    """Add every ``*.md`` file under ``directory`` to ``found``, with its stat, and every other
    file that looks like a slip (``never_read``) to ``strays`` if given. Symbolic links
    to files count, links to directories are not followed (as pathlib's rglob). One pass of
    os.scandir: four times cheaper than rglob plus a stat per file (30 ms for 2,000 files),
    and the content watcher runs it every few seconds in every worker."""
    try:
        entries = os.scandir(directory)
    except OSError:
        return  # missing, not a directory, or unreadable: nothing here to serve
    with entries:
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    _scan(entry.path, kind, found, strays)
                elif entry.name.endswith(".md"):
                    if entry.is_file():
                        st = entry.stat()
                        found[entry.path] = (st.st_mtime_ns, st.st_size, kind)
                elif strays is not None and not _left_alone(entry.name) and entry.is_file():
                    strays.append(entry.path)
            except OSError:
                continue  # gone or unreadable since listed: as if never there


#: Files in modules/ and scenarios/ that are not content and not a slip either: hidden files
#: (``.gitkeep``, ``.DS_Store``, editors' lock and swap files), editors' backups and autosaves,
#: and notes for other trainers (``README``, ``README.txt``; a ``README.md`` is read as content).
_LEFT_ALONE = re.compile(r"^(?:\..*|.*~|#.*#|.*\.(?:swp|swo|swx|bak|orig)|README(?:\.[^.]*)?)$", re.IGNORECASE)
#: Endings of Markdown or plain text saved under a name the loader does not read.
_TEXT_ENDINGS = (".md", ".markdown", ".mdown", ".mkdn", ".mkd", ".txt", ".text")


def _left_alone(name: str) -> bool:
    return name.lower() != "readme.md" and _LEFT_ALONE.match(name) is not None


def never_read(path: str, kind: str | None) -> ContentError:
    """The error for a file in modules/ or scenarios/ that is not content: its name does not
    end in ``.md``, so nothing reads it (a ``.markdown``, ``.MD`` or ``.md.txt`` file, most
    often, that the trainer believes is served)."""
    name = os.path.basename(path)
    stem = name
    while stem.lower().endswith(_TEXT_ENDINGS):
        cut = stem.rsplit(".", 1)[0]
        if not cut:
            break
        stem = cut
    shown = display_path(Path(path))
    if stem != name or "." not in name:
        return ContentError(shown, 0, f"this file is never read: content files must end in .md; rename it to {stem}.md")
    folder = "scenarios" if kind == "scenario" else "modules"
    return ContentError(
        shown,
        0,
        f"this file is never read: content files are Markdown text whose names end in .md; save it as one, "
        f"or keep it outside {folder}/",
    )


def _markdown_files(directory: Path) -> list[Path]:
    found: dict[str, Listed] = {}
    _scan(str(directory), None, found)
    return sorted(map(Path, found))


def _listing(root: Path, strays: list[tuple[str, str]] | None = None) -> dict[str, Listed]:
    """The content files under ``root`` (modules/ and scenarios/), with stats and kinds; and
    with ``strays``, the other files there that are never read (path, kind), in order."""
    found: dict[str, Listed] = {}
    for folder, kind in (("modules", "module"), ("scenarios", "scenario")):
        others: list[str] | None = [] if strays is not None else None
        _scan(str(root / folder), kind, found, others)
        if strays is not None and others:
            strays.extend((path, kind) for path in sorted(others))
    return found


def _stray_errors(strays: list[tuple[str, str]]) -> list[ContentError]:
    return [never_read(path, kind) for path, kind in strays]


@dataclass(frozen=True)
class _Source:
    """One file's text (or why it could not be read) and its kind."""

    kind: str | None
    path: str
    text: str | None
    error: ContentError | None = None


def _read_source(path: Path, kind: str | None) -> _Source:
    shown = display_path(path)
    try:
        text = _read_file(path)
    except OSError as exc:
        return _Source(kind, shown, None, ContentError(shown, 0, f"cannot read file: {exc.strerror or exc}"))
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        return _Source(kind, shown, None, ContentError(shown, line, "the file is not UTF-8 text"))
    return _Source(kind or _kind_by_location(path) or _kind_by_content(text), shown, text)


def _root_files(root: Path, strays: list[tuple[str, str]] | None = None) -> dict[Path, str | None]:
    return {Path(path): kind for path, (_, _, kind) in sorted(_listing(root, strays).items())}


def _assemble(
    sources: Iterable[_Source],
    errors: Iterable[ContentError] = (),
    parsed: dict[str, tuple[Content | None, list[ContentError]]] | None = None,
) -> Library:
    """The library of these sources. ``parsed``: sources (by path) already parsed, kept out of
    the parse cache (a trial file, see ``try_file``)."""
    sources = list(sources)
    parsed = parsed or {}
    versions = [version_of(s.text) if s.text is not None else None for s in sources]
    modules: list[Module] = []
    scenarios: list[Scenario] = []
    found = list(errors)
    broken: list[tuple[str, str | None, str]] = []  # scenario files that did not parse
    module_files: dict[str, str] = {}  # module id -> its first file
    for source, version in zip(sources, versions, strict=False):
        if source.text is None:
            assert source.error is not None
            found.append(source.error)
            continue
        assert source.kind is not None
        if source.path in parsed:
            content, problems = parsed[source.path]
        else:
            content, problems = parse_cached(source.kind, source.path, source.text, version)
        found.extend(problems)
        if problems:  # not served until fixed, even if only its text is at fault (parse.py)
            content = None
        if content is None and source.kind == "scenario":
            broken.append((sniff_value(source.text, "id") or "", sniff_value(source.text, "specialty"), source.path))
        if source.kind == "module":
            module_id = content.id if content is not None else sniff_value(source.text, "id")
            if module_id:
                module_files.setdefault(module_id, source.path)
        if isinstance(content, Module):
            modules.append(content)
        elif isinstance(content, Scenario):
            scenarios.append(content)
    library = build_library(modules, scenarios, found, broken)
    library.unserved_modules = _files_to_fix(library, module_files)
    return library


def _files_to_fix(library: Library, module_files: dict[str, str]) -> dict[str, str]:
    """For each module with a file that is not served, the file to fix: its own, or, when all
    its errors are consequences (its scenario has errors), the file they name."""
    unserved = {module_id: path for module_id, path in module_files.items() if module_id not in library.modules}
    if not unserved:
        return {}
    by_path: dict[str, list[ContentError]] = {}
    for error in library.errors:
        by_path.setdefault(error.path, []).append(error)
    fix: dict[str, str] = {}
    for module_id, path in unserved.items():
        errors = by_path.get(path, [])
        causes = [e.cause for e in errors if e.cause is not None]
        fix[module_id] = causes[0] if errors and len(causes) == len(errors) else path
    return fix


def _root_errors(root: Path) -> list[ContentError]:
    if root.is_dir():
        return []
    return [ContentError(display_path(root), 0, "content directory not found")]


def load_library(root: Path, extra_paths: Iterable[Path] = ()) -> Library:
    """Load every module and scenario under ``root`` plus ``extra_paths`` (files or directories).

    Files with errors are left out and their errors listed; so is a module whose scenario is
    missing or broken. Everything else loads. A file in modules/ or scenarios/ that is not
    read (its name does not end in ``.md``) is an error too (``never_read``).
    """
    root = Path(root)
    directories: dict[Path, Path] = {}
    strays: list[tuple[str, str]] = []
    chosen: dict[Path, tuple[Path, str | None]] = {
        _resolve(p, directories): (p, kind) for p, kind in _root_files(root, strays).items()
    }
    for extra in map(Path, extra_paths):
        paths = _markdown_files(extra) if extra.is_dir() else [extra]
        for path in paths:
            chosen.setdefault(path.resolve(), (path, None))
    sources = [_read_source(path, kind) for path, kind in sorted(chosen.values(), key=lambda v: str(v[0]))]
    return _assemble(sources, _root_errors(root) + _stray_errors(strays))


@dataclass(frozen=True)
class Trial:
    """What one file would do if it were saved into the content directory, before it is."""

    kind: str  # "module" or "scenario"
    path: str  # as its errors name it
    replaces: str | None  # the file it would take the place of (same id; for a scenario, same specialty)
    errors: list[ContentError]  # in the file itself
    caused: list[ContentError]  # errors it would bring to other files (a module whose check it breaks)
    library: Library  # the content as it would be

    @property
    def standards(self) -> list[ContentError]:
        """Where the file would fall short of the house standards (``standards.py``), if it
        would load. Worked out for this file alone, and not kept (as trials stay out of the
        parse cache)."""
        from .standards import problems_of

        content = self.content
        return problems_of(content) if content is not None else []

    @property
    def content(self) -> Content | None:
        """The module or scenario as learners would get it; None if it would not load."""
        if self.errors:
            return None
        for module in self.library.modules.values():
            if module.path == self.path:
                return module
        return next((s for s in self.library.all_scenarios() if s.path == self.path), None)


def try_file(root: Path, name: str, text: str, time_limit: float | None = None) -> Trial:
    """Check ``text`` as if it were saved under ``root`` as a file called ``name``, in place of
    the file with the same id (a scenario: the same id and specialty), or as a new file.

    Nothing is written, and the text never enters the parse cache (trials are not bounded by
    trainers' edits as files are). The rest of the content is read as it is on disk now. With
    ``time_limit`` (seconds), the text is parsed in a process of its own, killed at the limit
    (``timelimit.py``): for text from a web form.
    """
    root = Path(root)
    strays: list[tuple[str, str]] = []
    listed = _root_files(root, strays)
    # A draft of a file that is there (same name, same id) is of that file's kind, as it would be
    # saved over it: a module draft that lacks both fields the content rule looks for stays a
    # module. Anything else, the content rule decides.
    draft_id = sniff_value(text, "id")
    kind = next(
        (k for path, k in listed.items() if path.name == name and draft_id and _id_of(path) == draft_id), None
    ) or _kind_by_content(text)
    shown = f"{name} (not saved)"
    key = (sniff_value(text, "id"), sniff_value(text, "specialty") if kind == "scenario" else None)
    sources: list[_Source] = []
    replaced: _Source | None = None
    for path, listed_kind in listed.items():
        source = _read_source(path, listed_kind)
        same = (
            key[0] is not None
            and source.kind == kind
            and source.text is not None
            and (sniff_value(source.text, "id"), sniff_value(source.text, "specialty") if kind == "scenario" else None)
            == key
        )
        if same and replaced is None:
            replaced = source
            continue
        sources.append(source)
    unread = _root_errors(root) + _stray_errors(strays)
    before = _assemble(sources + ([replaced] if replaced else []), unread)
    trial = _Source(kind, shown, text)
    if time_limit is None:
        parsed = _parse_safely(kind, shown, text)
    else:
        parsed = parse_within(kind, shown, text, time_limit)
    library = _assemble([*sources, trial], unread, parsed={shown: parsed})
    known = {_unchanged(e) for e in before.errors}
    own = [e for e in library.errors if e.path == shown]
    caused = [e for e in library.errors if e.path != shown and _unchanged(e) not in known]
    return Trial(kind, shown, replaced.path if replaced else None, own, caused, library)


def try_in_place(
    root: Path, relative: str, text: str, kind: str, shown: str | None = None, time_limit: float | None = None
) -> Trial:
    """Check ``text`` as the file ``relative`` (to ``root``: ``modules/x.md``) of ``kind``, in
    place of that file if it is there, with the rest of the content as it is on disk now: a
    draft about to be published (``quiz/drafts.py``). Its errors name ``shown`` (by default
    ``relative``). Nothing is written and the text stays out of the parse cache; with
    ``time_limit`` it is parsed in a process of its own (``timelimit.py``), as ``try_file``."""
    if kind not in KINDS:
        raise ValueError(f"unknown content kind {kind!r}; expected one of {KINDS}")
    root = Path(root)
    target = (root / relative).absolute()
    strays: list[tuple[str, str]] = []
    sources: list[_Source] = []
    replaced: _Source | None = None
    for path, listed_kind in _root_files(root, strays).items():
        source = _read_source(path, listed_kind)
        if path.absolute() == target:
            replaced = source
        else:
            sources.append(source)
    shown = shown or relative
    unread = _root_errors(root) + _stray_errors(strays)
    before = _assemble(sources + ([replaced] if replaced else []), unread)
    if time_limit is None:
        parsed = _parse_safely(kind, shown, text)
    else:
        parsed = parse_within(kind, shown, text, time_limit)
    library = _assemble([*sources, _Source(kind, shown, text)], unread, parsed={shown: parsed})
    known = {_unchanged(e) for e in before.errors}
    own = [e for e in library.errors if e.path == shown]
    caused = [
        e for e in library.errors if e.path not in (shown, replaced and replaced.path) and _unchanged(e) not in known
    ]
    return Trial(kind, shown, replaced.path if replaced else None, own, caused, library)


def _unchanged(error: ContentError) -> tuple[str, int, str | None]:
    """What an error elsewhere is, to tell one a trial brings from one already there: a
    consequence (a module whose scenario has errors) is the same whichever file it names."""
    return error.path, error.line, error.message if error.cause is None else None


def _id_of(path: Path) -> str | None:
    source = _read_source(path, None)
    return sniff_value(source.text, "id") if source.text is not None else None


def _resolve(path: Path, directories: dict[Path, Path]) -> Path:
    """``path.resolve()`` for a listed file, resolving each directory only once (``directories``
    remembers them): a file that is not a symbolic link resolves to its resolved directory."""
    if path.is_symlink():
        return path.resolve()
    directory = directories.get(path.parent)
    if directory is None:
        directory = directories[path.parent] = path.parent.resolve()
    return directory / path.name


def summary_line(library: Library, problems: tuple[int, int] | None = None) -> str:
    """One line for ``content check`` and the Content page: counts and each scenario's range.
    ``problems``: (errors, standards not met) when more than the library's own are counted
    (the curricula file's errors: ``check.py``)."""
    scenarios = sorted(library.all_scenarios(), key=lambda s: (s.id, s.specialty or ""))
    ranges = ", ".join(f"{_label(s)} {_range(s)}" for s in scenarios)
    problems = problems or (len(library.errors), len(library.standards))
    status = f"content has {problem_counts(*problems)}" if any(problems) else "content ok"
    modules = ngettext("%(num)d module", "%(num)d modules", len(library.modules))
    line = f"{status}: {modules}, " + ngettext("%(num)d scenario", "%(num)d scenarios", len(scenarios))
    return f"{line} ({ranges})" if ranges else line


def _label(scenario: Scenario) -> str:
    return f"{scenario.id}[{scenario.specialty}]" if scenario.specialty else scenario.id


def _range(scenario: Scenario) -> str:
    scores = scenario.scores
    return f"{scores.lowest}..{scores.highest}" if scores else "?"


def problem_counts(errors: int, standards: int) -> str:
    """ "2 errors, 1 standard not met": the errors, and the house standards not met."""
    parts = [ngettext("%(num)d error", "%(num)d errors", errors)] if errors or not standards else []
    if standards:
        parts.append(ngettext("%(num)d standard not met", "%(num)d standards not met", standards))
    return ", ".join(parts)


# ------------------------------------------------------------------------------ live store


class ContentStore:
    """The library a running server reads, kept up to date with the files on disk.

    A refresh lists files with (mtime_ns, size) only; a file is re-read only when those change,
    and unchanged text is never re-parsed (parse cache). A broken file is logged once; the rest
    keeps serving, and so does the file's **last good version**, if this process loaded one: a
    file caught half-written (an editor's save, a copy under way) or saved with a mistake does
    not take its module offline. Its errors are listed all the same (the Content page, ``content
    check``, the log), with one more saying the earlier version is still served. A file broken
    since the process started has no good version to keep, and is left out until fixed.

    With ``watch`` (a server), each process checks every ``min_interval`` seconds on a
    background thread, so no request pays for the check or for parsing an edited file: at
    1,000 modules the check alone costs ~10 ms of CPU (bench/HISTORY.md, "Garbage collector
    pauses and the content watcher").
    Without it, a check runs when the library is read and ``min_interval`` has passed
    (0: on every read, as the tests want).
    """

    def __init__(self, root: Path, min_interval: float = 2.0, watch: bool = False) -> None:
        self.root = Path(root)
        self.min_interval = min_interval
        self.watch = watch and min_interval > 0
        self._lock = threading.Lock()
        self._listed: dict[str, Listed] = {}
        self._strays: list[tuple[str, str]] = []
        self._sources: dict[str, _Source] = {}
        self._good: dict[str, _Source] = {}  # each file's last text with no errors of its own
        self._checked_at = float("-inf")
        self._logged: set[str] = set()
        self._read = False  # errors are logged from the first read of the library on
        self._library = Library()
        self._loaded = False
        self._watcher: threading.Thread | None = None
        self._watcher_lock = threading.Lock()  # not _lock: a refresh may hold that for seconds
        self._closed = threading.Event()
        self.refresh(force=True)

    @property
    def library(self) -> Library:
        """The current library: as last checked by the watcher, or after a due check.

        The first read logs the errors found so far; later checks log new ones as they find
        them. Not before: a command (``content check``) builds the app, and so this store,
        and then reports the errors itself; each would be shown twice."""
        if not self._read:
            with self._lock:
                if not self._read:
                    self._read = True
                    self._log_new_errors(self._library.errors)
        if self.watch and not self._closed.is_set():
            if self._watcher is None or not self._watcher.is_alive():
                self._start_watcher()
            return self._library
        if time.monotonic() - self._checked_at >= self.min_interval:
            self.refresh()
        return self._library

    def _start_watcher(self) -> None:
        """Start this process's watcher thread. Started on first use, not in ``__init__``: a
        server that forks workers after building the app (gunicorn ``--preload``) would
        otherwise leave them without one, since threads do not survive a fork."""
        with self._watcher_lock:
            if self._watcher is not None and self._watcher.is_alive():
                return
            self._watcher = threading.Thread(target=self._watch, name="content-watcher", daemon=True)
            self._watcher.start()

    def _watch(self) -> None:
        while not self._closed.wait(self.min_interval):
            try:
                self.refresh(force=True)
            except Exception:  # noqa: BLE001 - keep serving the last good library, keep watching
                log.exception("checking %s for changed content failed", display_path(self.root))

    def close(self) -> None:
        """Stop the watcher thread; later reads check on the reading thread, as without it."""
        self._closed.set()
        watcher = self._watcher
        if watcher is not None and watcher is not threading.current_thread():
            watcher.join(timeout=5)

    def refresh(self, force: bool = False) -> Library:
        """Re-scan now (``force``) or if ``min_interval`` has passed; rebuild only on changes."""
        with self._lock:
            now = time.monotonic()
            if not force and now - self._checked_at < self.min_interval:
                return self._library
            self._checked_at = now
            strays: list[tuple[str, str]] = []
            listed = _listing(self.root, strays)
            if self._loaded and listed == self._listed and strays == self._strays:
                return self._library
            for path, (_, _, kind) in listed.items():
                if listed[path] != self._listed.get(path) or path not in self._sources:
                    self._sources[path] = _read_source(Path(path), kind)
            for path in set(self._sources) - set(listed):
                del self._sources[path]
            self._listed = listed
            self._strays = strays
            self._loaded = True
            ordered = [self._sources[p] for p in sorted(self._sources)]
            self._library = self._with_last_good(ordered, _root_errors(self.root) + _stray_errors(strays))
            if self._read:
                self._log_new_errors(self._library.errors)
            return self._library

    def _with_last_good(self, ordered: list[_Source], unread: list[ContentError]) -> Library:
        """The library of ``ordered``, each file with errors of its own served as it last was
        without any (when this process saw it so); its errors still listed."""
        fresh = _assemble(ordered, unread)
        own = {e.path for e in fresh.errors if e.cause is None}
        for source in ordered:
            if source.path not in own and source.text is not None:
                self._good[source.path] = source
        for path in set(self._good) - {s.path for s in ordered}:
            del self._good[path]  # deleted files are withdrawn, not kept
        kept = [s.path for s in ordered if s.path in own and s.path in self._good]
        if not kept:
            return fresh
        served = _assemble([self._good[s.path] if s.path in kept else s for s in ordered], unread)
        notes = [ContentError(path, 0, KEPT_NOTE) for path in kept]
        own_errors = [e for e in fresh.errors if e.path in kept]
        served.errors = sorted(dict.fromkeys([*own_errors, *notes, *served.errors]), key=error_order)
        return served

    def _log_new_errors(self, errors: list[ContentError]) -> None:
        current = [str(e) for e in errors]  # in the library's order: causes first
        for text in current:
            if text not in self._logged:
                log.error(text)
        self._logged = set(current)
