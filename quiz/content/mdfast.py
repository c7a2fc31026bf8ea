"""Python-Markdown, minus the regular-expression searches that cannot match.

For every block of text Python-Markdown asks each block processor (heading, quote, table, ...)
whether the block is its kind, and for every piece of text it tries each inline pattern (code,
link, emphasis, ...); two preprocessors scan the whole text for fenced code and raw HTML, and a
last pass looks for backslash escapes to restore. Most of those searches fail, and they were
most of the time of loading a large library. Each needs a certain character to succeed (a
heading needs ``#``, a quote ``>``, a link ``[``, raw HTML ``<``, an escape ``\\``), so when a
block or text has none of them the step is skipped: the output is the same, only failing
searches are saved.

A skip is tied to the exact class and regular expression it was worked out for; a processor or
pattern this module does not know, or whose expression differs (another Python-Markdown
version, another extension), is always asked. ``tests/test_render.py`` checks the output
against stock Python-Markdown.
"""

from __future__ import annotations

import re
import types

from markdown import Markdown, blockprocessors, inlinepatterns, preprocessors, util
from markdown.blockparser import BlockParser
from markdown.extensions import fenced_code, tables
from markdown.treeprocessors import InlineProcessor, UnescapeTreeprocessor

Needs = tuple[str, ...]

#: Inline pattern name -> (its regular expression, strings of which every match contains one).
_INLINE_NEEDS: dict[str, tuple[str, Needs]] = {
    "backtick": (inlinepatterns.BACKTICK_RE, ("`",)),
    "escape": (inlinepatterns.ESCAPE_RE, ("\\",)),
    "reference": (inlinepatterns.REFERENCE_RE, ("[",)),
    "link": (inlinepatterns.LINK_RE, ("[",)),
    "image_link": (inlinepatterns.IMAGE_LINK_RE, ("![",)),
    "image_reference": (inlinepatterns.IMAGE_REFERENCE_RE, ("![",)),
    "short_reference": (inlinepatterns.REFERENCE_RE, ("[",)),
    "short_image_ref": (inlinepatterns.IMAGE_LINK_RE, ("![",)),
    "autolink": (inlinepatterns.AUTOLINK_RE, ("<",)),
    "automail": (inlinepatterns.AUTOMAIL_RE, ("<",)),
    "linebreak": (inlinepatterns.LINE_BREAK_RE, ("  \n",)),
    "html": (inlinepatterns.HTML_RE, ("<",)),
    "entity": (inlinepatterns.ENTITY_RE, ("&",)),
    "not_strong": (inlinepatterns.NOT_STRONG_RE, ("*", "_")),
    "em_strong": (r"\*", ("*",)),
    "em_strong2": (r"_", ("_",)),
}

#: Block processor class -> (its regular expression or None, strings one of which a block needs
#: for the processor to take it). The table test splits the first line on ``|``; the reference
#: processor's test always says yes and its run gives the block back unless it finds ``]:``.
_BLOCK_NEEDS: dict[type, tuple[str | None, Needs]] = {
    tables.TableProcessor: (None, ("|",)),
    blockprocessors.HashHeaderProcessor: (r"(?:^|\n)(?P<level>#{1,6})(?P<header>(?:\\.|[^\\])*?)#*(?:\n|$)", ("#",)),
    blockprocessors.SetextHeaderProcessor: (r"^.*?\n(?:=+|-+)[ ]*(\n|$)", ("\n=", "\n-")),  # 3.10.3
    blockprocessors.HRProcessor: (
        r"^[ ]{0,3}(?=(?P<atomicgroup>(-+[ ]{0,2}){3,}|(_+[ ]{0,2}){3,}|(\*+[ ]{0,2}){3,}))(?P=atomicgroup)[ ]*$",
        ("-", "_", "*"),
    ),
    blockprocessors.BlockQuoteProcessor: (r"(^|\n)[ ]{0,3}>[ ]?(.*)", (">",)),
    blockprocessors.ReferenceProcessor: (
        r"""^[ ]{0,3}\[([^\[\]]*)\]:[ ]*\n?[ ]*([^\s]+)[ ]*(?:\n[ ]*)?((["\'])(.*)\4[ ]*|\((.*)\)[ ]*)?$""",
        ("]:",),
    ),
}

#: Preprocessor class -> strings one of which the text needs for the preprocessor to change it.
#: Fenced code: its expression starts with the fence. Raw HTML: an HTML parser reads text without
#: ``<`` or ``&`` as plain text, which the preprocessor gives back as it was.
_PRE_NEEDS: dict[type, Needs] = {
    fenced_code.FencedBlockPreprocessor: ("```", "~~~"),
    preprocessors.HtmlBlockPreprocessor: ("<", "&"),
}
_FENCE_START = "(?P<fence>^(?:~{3,}|`{3,}))"


def _has_any(text: str, needs: Needs) -> bool:
    # Plain substring tests: several times faster than one regular expression for them all.
    for s in needs:
        if s in text:
            return True
    return False


def _ordered(registry: util.Registry) -> list[tuple[str, object]]:
    """(name, item) in the order the registry runs them."""
    registry._sort()
    return [(item.name, registry[item.name]) for item in registry._priority]


# ---------------------------------------------------------------------------- preprocessors

def _pre_needs(processor: object) -> Needs | None:
    needs = _PRE_NEEDS.get(type(processor))
    if isinstance(processor, fenced_code.FencedBlockPreprocessor):
        regex = getattr(processor, "FENCED_BLOCK_RE", None)
        if not getattr(regex, "pattern", "").lstrip().startswith(_FENCE_START):
            return None
    return needs


def _skipping_run(run, needs: Needs):
    """``run`` of a preprocessor, not called when the text has none of ``needs``."""

    def skipping(lines: list[str]) -> list[str]:
        return run(lines) if _has_any("\n".join(lines), needs) else lines

    return skipping


def _normalize_as_copied(self, lines: list[str]) -> list[str]:
    source = '\n'.join(lines)
    source = source.replace(util.STX, "").replace(util.ETX, "")
    source = source.replace("\r\n", "\n").replace("\r", "\n") + "\n\n"
    source = source.expandtabs(self.md.tab_length)
    source = re.sub(r'(?<=\n) +\n', '\n', source)
    return source.split('\n')


def _normalize(self, lines: list[str]) -> list[str]:
    """``NormalizeWhitespace.run``, searching for lines of only spaces only if there is one."""
    source = "\n".join(lines)
    source = source.replace(util.STX, "").replace(util.ETX, "")
    source = source.replace("\r\n", "\n").replace("\r", "\n") + "\n\n"
    source = source.expandtabs(self.md.tab_length)
    if " \n" in source:
        source = re.sub(r"(?<=\n) +\n", "\n", source)
    return source.split("\n")


def _same_code(a, b) -> bool:
    """Whether two functions compiled to the same instructions, constants and names."""
    ca, cb = a.__code__, b.__code__
    return (ca.co_code, ca.co_consts, ca.co_names) == (cb.co_code, cb.co_consts, cb.co_names)


# ----------------------------------------------------------------------------------- blocks

def _block_needs(processor: object) -> Needs | None:
    known = _BLOCK_NEEDS.get(type(processor))
    if known is None:
        return None
    expected, needs = known
    regex = getattr(processor, "SEARCH_RE" if isinstance(processor, blockprocessors.HRProcessor) else "RE", None)
    if expected is not None and getattr(regex, "pattern", None) != expected:
        return None
    return needs


def _parse_blocks(self, parent, blocks: list[str]) -> None:
    """``BlockParser.parseBlocks`` (Python-Markdown 3.x), not asking processors that cannot match."""
    processors = self._skipping
    while blocks:
        block = blocks[0]
        for processor, needs in processors:
            if needs is not None:
                for s in needs:  # _has_any, inlined: this loop is hot
                    if s in block:
                        break
                else:
                    continue
            if processor.test(parent, block):
                if processor.run(parent, blocks) is not False:
                    break
                block = blocks[0]  # a run that declines may have put back another block


# ----------------------------------------------------------------------------------- inline

def _inline_needs(name: str, pattern: object) -> Needs | None:
    known = _INLINE_NEEDS.get(name)
    regex = getattr(pattern, "compiled_re", None)
    if known is None or regex is None or regex.pattern != known[0] or pattern.ANCESTOR_EXCLUDES:
        return None
    return known[1]


class SkippingInlineProcessor(InlineProcessor):
    """The stock inline pass, skipping a pattern when the text lacks everything it needs."""

    def __init__(self, md: Markdown) -> None:
        super().__init__(md)
        ordered = _ordered(md.inlinePatterns)
        self._patterns = [pattern for _, pattern in ordered]
        self._needs = [_inline_needs(name, pattern) for name, pattern in ordered]
        #: Text with none of these can match no pattern (None if some pattern is not known).
        self._any = None if None in self._needs else tuple(dict.fromkeys(s for n in self._needs for s in n))

    def _InlineProcessor__handleInline(self, data: str, patternIndex: int = 0) -> str:  # noqa: N802,N803
        """``InlineProcessor.__handleInline`` (Python-Markdown 3.x) with the skips added."""
        if isinstance(data, util.AtomicString):
            return data
        if self._any is not None and not _has_any(data, self._any):
            return data
        patterns, needs = self._patterns, self._needs
        startIndex = 0  # noqa: N806 - names as in the original
        while patternIndex < len(patterns):
            if needs[patternIndex] is not None and not _has_any(data, needs[patternIndex]):
                patternIndex, startIndex = patternIndex + 1, 0  # what a failed search returns
                continue
            data, matched, startIndex = self._InlineProcessor__applyPattern(
                patterns[patternIndex], data, patternIndex, startIndex
            )
            if not matched:
                patternIndex += 1
        return data


# --------------------------------------------------------------------------------- unescape

def _skipping_unescape(md: Markdown, run):
    """The unescape pass, run only if the text has a backslash: only the escape pattern and a
    backslash before backticks make what it restores, and both need one."""

    def skipping(root):  # type: ignore[no-untyped-def]
        return run(root) if "\\" in "\n".join(md.lines) else None

    return skipping


def _remembering(is_block_level):
    """``Markdown.is_block_level`` remembering its answers: it scans a list of ~50 tag names on
    every call, a few times per element, and the list does not change once ``md`` is built."""
    known: dict[object, bool] = {}

    def remembered(tag: object) -> bool:
        try:
            return known[tag]
        except KeyError:
            answer = known[tag] = is_block_level(tag)
            return answer
        except TypeError:  # an unhashable tag
            return is_block_level(tag)

    return remembered


# ---------------------------------------------------------------------------------- install

def install(md: Markdown) -> list[str]:
    """Make ``md`` skip what cannot match, where it still has the stock parts; say which.

    Call it once ``md`` has all its extensions: processors, patterns and the block-level tag
    list are read here, once, so they must not change afterwards.
    """
    done: list[str] = []
    for _, processor in _ordered(md.preprocessors):
        # Only when the stock method is still the one _normalize was copied from.
        if type(processor) is preprocessors.NormalizeWhitespace and "run" not in vars(processor):
            if _same_code(preprocessors.NormalizeWhitespace.run, _normalize_as_copied):
                processor.run = types.MethodType(_normalize, processor)
                done.append("NormalizeWhitespace")
        needs = _pre_needs(processor)
        if needs is not None and "run" not in vars(processor):
            processor.run = _skipping_run(processor.run, needs)
            done.append(type(processor).__name__)
    parser = md.parser
    if type(parser).parseBlocks is BlockParser.parseBlocks:
        parser._skipping = [(p, _block_needs(p)) for _, p in _ordered(parser.blockprocessors)]
        parser.parseBlocks = types.MethodType(_parse_blocks, parser)
        done.append("blocks")
    current = md.treeprocessors["inline"] if "inline" in md.treeprocessors else None
    private = ("_InlineProcessor__handleInline", "_InlineProcessor__applyPattern")
    if type(current) is InlineProcessor and all(hasattr(InlineProcessor, n) for n in private):
        priority = next(item.priority for item in md.treeprocessors._priority if item.name == "inline")
        md.treeprocessors.register(SkippingInlineProcessor(md), "inline", priority)
        done.append("inline")
    unescape = md.treeprocessors["unescape"] if "unescape" in md.treeprocessors else None
    if type(unescape) is UnescapeTreeprocessor and "run" not in vars(unescape):
        unescape.run = _skipping_unescape(md, unescape.run)
        done.append("unescape")
    if "is_block_level" not in vars(md) and type(md).is_block_level is Markdown.is_block_level:
        md.is_block_level = _remembering(md.is_block_level)
        done.append("is_block_level")
    return done
