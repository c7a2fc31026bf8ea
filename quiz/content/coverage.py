"""The curriculum as a whole: role tracks, topic coverage, and the docs/curriculum.md matrix.

docs/curriculum.md is generated from the content by ``flask --app app content matrix``; a test
fails if the committed file differs from what the content says.
"""

from __future__ import annotations

import re
from html import unescape

from .model import JOB_ROLES, SPECIALTIES, TOPICS, Library, Module

#: Roles whose modules must read at or below a US grade-8 level.
FRONTLINE_ROLES = ("front-desk", "clinical", "pharmacy", "billing", "case-manager")

_TAGS = re.compile(r"<[^>]+>")
_CITATION = re.compile(r"\(?\b\d+ CFR [0-9.]+(?:\([a-z0-9]+\))*(?:[-–][0-9A-Za-z().]+)?\)?")


def track(library: Library, role: str) -> tuple[list[Module], list[Module]]:
    """(onboarding modules, refresher modules) for one job role."""
    mine = sorted((m for m in library.modules.values() if role in m.roles), key=lambda m: m.id)
    return [m for m in mine if m.kind == "onboarding"], [m for m in mine if m.kind == "refresher"]


def is_frontline(module: Module) -> bool:
    return any(role in FRONTLINE_ROLES for role in module.roles)


def lesson_text(module: Module) -> str:
    """The learner-facing lesson as plain prose (tags and citations removed) for readability."""
    parts = []
    for screen in module.screens:
        text = unescape(_TAGS.sub(" ", screen.html))
        parts.append(_CITATION.sub("", text))
    return re.sub(r"\s+", " ", " ".join(parts)).strip()


def matrix(library: Library) -> str:
    """Markdown: role tracks, topic x role coverage, and specialty variants."""
    out = [
        "# Curriculum",
        "",
        "Generated from `content/` by `flask --app app content matrix`; do not edit by hand.",
        "",
        "## Role tracks",
        "",
        "| job role | onboarding | refreshers |",
        "|---|---|---|",
    ]
    for role in JOB_ROLES:
        onboarding, refreshers = track(library, role)
        out.append(
            f"| {role} | {', '.join(f'`{m.id}`' for m in onboarding) or '—'} | "
            f"{', '.join(f'`{m.id}`' for m in refreshers) or '—'} |"
        )
    out += ["", "## Topics by role", "", "Each cell lists the modules that cover the topic for that role.", ""]
    out.append("| topic | " + " | ".join(JOB_ROLES) + " |")
    out.append("|---|" + "---|" * len(JOB_ROLES))
    for topic, title in TOPICS.items():
        cells = []
        for role in JOB_ROLES:
            ids = sorted(m.id for m in library.modules.values() if topic in m.topics and role in m.roles)
            cells.append("<br>".join(f"`{i}`" for i in ids) or "—")
        out.append(f"| {title} (`{topic}`) | " + " | ".join(cells) + " |")
    out += ["", "## Specialty variants", "", "| scenario | general | " + " | ".join(SPECIALTIES) + " |"]
    out.append("|---|---|" + "---|" * len(SPECIALTIES))
    for scenario_id in sorted(library.scenarios):
        variants = library.scenarios[scenario_id]
        if set(variants) == {None}:
            continue
        marks = ["yes" if None in variants else "—"] + ["yes" if s in variants else "—" for s in SPECIALTIES]
        out.append(f"| `{scenario_id}` | " + " | ".join(marks) + " |")
    states = sorted({s for m in library.modules.values() for s in m.states})
    if states:
        out += ["", "## State modules", "", "| module | states |", "|---|---|"]
        for m in sorted(library.modules.values(), key=lambda m: m.id):
            if m.states:
                out.append(f"| `{m.id}` | {', '.join(m.states)} |")
    return "\n".join(out) + "\n"
