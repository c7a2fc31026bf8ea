"""US spelling: the British spellings a writer slips into, and the US word for each.

Rounds is written in US English (docs/authoring.md). ``british(line)`` finds the British
spellings in one line of a content file, as (what was written, the US spelling), for the house
standard in ``standards.py``. Node ids (``{#the-neighbour}``) and a choice's target are ids, not
words, and code is code: those are left out. The list is of words, not a rule: "advise",
"exercise" and "otherwise" are US English too.
"""

from __future__ import annotations

import re

#: Stems that take -ise/-ize in British/US spelling, with their endings.
_IZE_STEMS = (
    "organ",
    "recogn",
    "apolog",
    "author",
    "priorit",
    "emphas",
    "minim",
    "summar",
    "real",
    "util",
    "categor",
    "final",
    "memor",
    "familiar",
    "standard",
    "critic",
    "custom",
    "special",
    "visual",
    "normal",
    "central",
    "digit",
    "immun",
    "hospital",
    "personal",
    "anonym",
    "item",
    "sanit",
    "penal",
    "stabil",
    "optim",
    "maxim",
    "random",
    "character",
    "computer",
    "legal",
    "local",
    "mobil",
    "neutral",
    "public",
    "scrutin",
    "social",
    "sympath",
    "synchron",
    "jeopard",
    "energ",
    "general",
    "human",
    "modern",
    "subsid",
    "symbol",
    "vandal",
    "victim",
    "civil",
)
_IZE_ENDINGS = {
    "ise": "ize",
    "ised": "ized",
    "ises": "izes",
    "ising": "izing",
    "isation": "ization",
    "isations": "izations",
    "iser": "izer",
    "isers": "izers",
}
_WORDS = {
    "behaviour": "behavior",
    "behaviours": "behaviors",
    "behavioural": "behavioral",
    "colour": "color",
    "colours": "colors",
    "honour": "honor",
    "honours": "honors",
    "honoured": "honored",
    "neighbour": "neighbor",
    "neighbours": "neighbors",
    "neighbourhood": "neighborhood",
    "favour": "favor",
    "favourite": "favorite",
    "labour": "labor",
    "humour": "humor",
    "counselling": "counseling",
    "counsellor": "counselor",
    "counsellors": "counselors",
    "licence": "license",
    "licences": "licenses",
    "centre": "center",
    "centres": "centers",
    "defence": "defense",
    "offence": "offense",
    "offences": "offenses",
    "practise": "practice",
    "practised": "practiced",
    "practising": "practicing",
    "judgement": "judgment",
    "judgements": "judgments",
    "whilst": "while",
    "amongst": "among",
    "learnt": "learned",
    "spelt": "spelled",
    "enrol": "enroll",
    "enrols": "enrolls",
    "enrolment": "enrollment",
    "fulfil": "fulfill",
    "programme": "program",
    "programmes": "programs",
    "analyse": "analyze",
    "analysed": "analyzed",
    "analyses": None,
    "catalogue": "catalog",
    "dialogue": None,
    "travelled": "traveled",
    "travelling": "traveling",
    "cancelled": "canceled",
    "cancelling": "canceling",
    "labelled": "labeled",
    "labelling": "labeling",
    "modelled": "modeled",
    "modelling": "modeling",
    "signalled": "signaled",
    "totalled": "totaled",
    "grey": "gray",
    "cheque": "check",
    "cheques": "checks",
    "storey": "story",
    "jewellery": "jewelry",
    "paediatric": "pediatric",
    "paediatrician": "pediatrician",
    "anaesthetic": "anesthetic",
    "orthopaedic": "orthopedic",
    "diarrhoea": "diarrhea",
    "oestrogen": "estrogen",
    "haemoglobin": "hemoglobin",
    "foetus": "fetus",
    "manoeuvre": "maneuver",
    "ageing": "aging",
    "postcode": "ZIP code",
    "mum": "mom",
    "sceptical": "skeptical",
    "tonne": "ton",
    "plough": "plow",
    "kerb": "curb",
    "tyre": "tire",
    "aluminium": "aluminum",
}
for stem in _IZE_STEMS:
    for uk_ending, us_ending in _IZE_ENDINGS.items():
        _WORDS.setdefault(stem + uk_ending, stem + us_ending)
_WORDS = {word: us for word, us in _WORDS.items() if us}  # None: the same in US English

_WORD = re.compile(r"[A-Za-z]+")
_IDS = re.compile(r"\{#[^}]*\}|(?:->|→)\s*\S+\s*$|`[^`]*`|https?://\S+|^(?:id|start|scenarios)\s*:.*$")


def british(line: str) -> list[tuple[str, str]]:
    """(British spelling as written, US spelling) for each one in the line, once each."""
    found: dict[str, str] = {}
    for match in _WORD.finditer(_IDS.sub(" ", line)):
        word = match.group()
        us = _WORDS.get(word.lower())
        if us is not None and word not in found:
            found[word] = us.capitalize() if word[0].isupper() else us
    return list(found.items())
