"""Person names: context cues first, the US Census name lists second, then every other mention of a name found.

Cues are titles (Mr., Dr.), field labels ("Patient:", "Caller:", "Electronically signed by"), relations ("his
daughter Ingrid"), and credentials after a name ("Eero Halvorsen, RN"). Without a cue, a capitalised pair is a
name when its first word is a census first name and its second a census surname. The lists come from the ``names``
package (US Census 1990 frequency files, MIT licence), read once on first use; without it only cues are used.
"""

from __future__ import annotations

import importlib.resources
import logging
import re
from collections.abc import Collection
from functools import lru_cache

log = logging.getLogger(__name__)

_UP = "A-ZÀ-ÖØ-ÞĀ-Ž"
_LO = "a-zß-öø-ÿĀ-ž"
# one name word: "Adeyemi-Clarke", "O'Callaghan", "McAllister", "Hyun-woo", "Ó", or an initial "J."
_WORD = rf"(?<![\w'’-])(?:[A-Z]\.(?=[ ])|[{_UP}][{_LO}]*+(?:['’-][{_UP}]?[{_LO}]++|[{_UP}][{_LO}]++)*+(?![\w'’]))"
_CAPS = rf"[{_UP}][{_UP}'’-]+(?![\w'’])"
_PARTICLE = r"(?:van|von|der|den|de|del|della|la|le|da|di|do|dos|du|bin|binti|ibn|al|el|ter|ten)"
_SEQ = rf"(?:{_PARTICLE}[ ])*{_WORD}(?:[ ](?:{_PARTICLE}[ ])*{_WORD}){{0,3}}"
# "KOWALCZYK, Agnieszka" or "Kowalczyk, Agnieszka": only trusted after a field cue
_LAST_FIRST = rf"(?:{_CAPS}|{_SEQ}),[ ]{_WORD}(?:[ ]{_WORD})?"

_TITLES = r"(?:(?:Mr|Mrs|Ms|Mx|Dr)\.?|Miss|Prof\.|Professor|Rev\.)"
# labels that name a person when a colon follows ("Patient: ...", "Attending: ...")
_FIELDS = (
    r"patient(?: name)?|pt|name|caller|attending|pcp|surgeon|assistant|anesthesia|anesthetist|provider|physician|"
    r"consultant|resident|fellow|requested by|referred by|referring(?: physician| provider)?|ordering(?: physician)?|"
    r"co-?signed(?: by)?|signed(?: by)?|read by|dictated by|transcribed by|routed to|cc|emergency contact|contact|"
    r"guardian|interpreter|re|nurse|rn|np|md"
)
# phrases that name a person without a colon
_PHRASES = (
    r"electronically signed by|dictated by|transcribed by|routed to|seen by|discussed with|spoke with|spoke to|"
    r"accompanied by|admitted under|under the care of|cared for by|referred by|Dear|Re"
)
_RELATIONS = "|".join(
    f"[{w[0].upper()}{w[0]}]{w[1:]}"
    for w in (
        "son daughter wife husband mother father sister brother niece nephew partner spouse granddaughter grandson "
        "grandmother grandfather aunt uncle cousin friend neighbor neighbour caregiver carer guardian fiancé fiancée "
        "boyfriend girlfriend stepson stepdaughter son-in-law daughter-in-law roommate"
    ).split()
)
_CREDENTIALS = r"MD|M\.D\.|DO|RN|NP|PA-C|PhD|MBBS|FRCP|LPN|CNA|APRN|DNP|PharmD|MSW|LCSW|CNM|CRNA"

_CUED = [
    re.compile(rf"\b{_TITLES}[ ](?P<v>{_SEQ})"),
    re.compile(
        rf"(?i:(?:^|(?<=[\s(]))(?:{_FIELDS})[ ]?:[ \t]*)(?:{_TITLES}[ ])?(?P<v>{_LAST_FIRST}|{_SEQ})", re.MULTILINE
    ),
    re.compile(rf"(?i:\b(?:{_PHRASES})\b)[ ](?:{_TITLES}[ ])?(?P<v>{_SEQ})"),
    re.compile(rf"\b(?:{_RELATIONS})\b,?[ ](?P<v>{_SEQ})"),
    re.compile(rf"\bpatient[ ](?P<v>{_SEQ})"),
    re.compile(rf"(?P<v>{_SEQ}),[ ](?:{_CREDENTIALS})\b|(?P<w>{_WORD}(?:[ ]{_WORD}){{1,3}})[ ](?:{_CREDENTIALS})\b"),
]
_TOKEN = re.compile(_WORD)
# a capitalised run that ends in one of these words is an eponym or an institution, not a person
_EPONYM_AFTER = re.compile(
    rf"(?:[ -]{_WORD}){{0,3}}(?:'s)?[ -](?:disease|syndrome|sign|palsy|lymphoma|sarcoma|phenomenon|contracture|"
    r"esophagus|oesophagus|thyroiditis|dementia|maneuver|manoeuvre|catheter|monitor|score|scale|procedure|test|"
    r"criteria|reflex|fracture|cyst|classification|ulcer|node|tube|type|pupil|anomaly|malformation|tumou?r|"
    r"disorder|deformity|effect|law|method|stain|staining|cells?|bod(?:y|ies)|operation|repair|incision|position|"
    r"hernia|Medical|Hospital|Clinic|Center|Centre|General|Health|Institute|University|College|Foundation)\b",
    re.IGNORECASE,
)

# Capitalised words that are never a name in a clinical note, whatever a cue says.
_NEVER = frozenset(
    """
    patient pt name date dob mrn sex age the this that these he she his her hers they their them we i it in on at by
    for from with and or but no not yes per re dear thank thanks plan assessment history exam examination labs lab
    results impression recommend recommended follow seen discussed called home hospital medical center centre clinic
    general health care emergency department unit ward room street address phone tel fax email account insurance
    member medicare medicaid license dea serial device video link session visit note summary discharge admission
    admitted attending pcp md rn np do phd ms mr mrs dr prof caller cosigned signed routed reviewed advised
    electronically requested reason chief complaint hpi disposition results ct ecg ekg mri cxr bp hr rr spo2 temp
    insulin pacemaker medications medication allergies social family surgical past review systems ros vitals
    subjective objective a/p s o a p return contact nursing cardiology neurology oncology telehealth telephone
    encounter consultation consult progress clinic today tomorrow yesterday monday tuesday wednesday thursday friday
    saturday sunday january february march april may june july august september october november december also
    denies reports states continue start stop started stopped will may can should must pain fall call seen
    last next prior since until after before during patient's yours sincerely regards kind best cc bcc
    emergency ed er icu or pacu st saint mount mt lake river north south east west new male female man woman
    a an does did do has had have is was are were be been being if when what who how why which where there here
    """.split()
)
# Capitalised words that are names only with a cue: eponyms and everyday words that are also census names.
_COMMON = frozenset(
    """
    parkinson crohn hodgkin down alzheimer graves cushing bell hashimoto guillain barré barre barrett raynaud sjögren
    wilson addison meniere ménière dupuytren kaposi murphy babinski homans kernig brudzinski foley holter epley
    glasgow apgar wells whipple valsalva heimlich tourette hirschsprung swan ganz colles baker gram hartmann
    lasix keppra eliquis zoloft tylenol coumadin norco xarelto plavix lipitor
    grace hope joy faith mark bill rose gene ray dean june april will august art pat sunny king young white black
    brown green gray grey long short small little major minor rich strong hall wood stone west north royal prince
    queen lord christian blind monte carlo alpha omega navy air force college university institute police army
    military national international society association foundation county state city trust board
    """.split()
)


@lru_cache(maxsize=1)
def census_names() -> tuple[frozenset[str], frozenset[str]]:
    """(first names, surnames), lower-cased, from the ``names`` package; empty sets when it is not installed."""
    try:
        root = importlib.resources.files("names")
    except ModuleNotFoundError:
        log.warning("the 'names' package is not installed: names are found from context cues only")
        return frozenset(), frozenset()

    def read(filename: str) -> set[str]:
        lines = root.joinpath(filename).read_text(encoding="ascii").splitlines()
        return {line.split()[0].lower() for line in lines if line.strip()}

    first = read("dist.male.first") | read("dist.female.first")
    return frozenset(first), frozenset(read("dist.all.last"))


def _trim(text: str, start: int, end: int) -> tuple[int, int] | None:
    """Drop never-name words and trailing particles from both ends of ``text[start:end]``."""
    words = [(m.start() + start, m.end() + start) for m in re.finditer(r"\S+", text[start:end])]
    while words and text[words[0][0] : words[0][1]].strip(",").lower() in _NEVER:
        words.pop(0)
    while words and (
        text[words[-1][0] : words[-1][1]].strip(",").lower() in _NEVER
        or re.fullmatch(_PARTICLE, text[words[-1][0] : words[-1][1]])
    ):
        words.pop()
    if not words:
        return None
    return words[0][0], words[-1][1]


def _words(text: str, start: int, end: int) -> list[str]:
    return [w for w in re.findall(rf"[{_UP}{_LO}'’-]+", text[start:end]) if len(w) > 1]


def find_names(text: str, use_dictionary: bool = True, known_names: Collection[str] = ()) -> list[tuple[int, int]]:
    """Spans of person names in ``text`` (may overlap one another; the caller merges).

    ``known_names`` (found in another text of the same document) count as found here too.
    """
    found: list[tuple[int, int]] = []
    for pattern in _CUED:
        for m in pattern.finditer(text):
            span = _trim(text, *m.span("v" if m.group("v") is not None else "w"))
            if span:
                found.append(span)
    if use_dictionary:
        first, last = census_names()
        lower_words = set(re.findall(rf"(?<![\w'’-])[{_LO}]+", text))  # words this text also uses in lower case
        tokens = list(_TOKEN.finditer(text))
        for m1, m2 in zip(tokens, tokens[1:], strict=False):
            a, b = m1.group().lower(), m2.group().lower()
            if m2.start() != m1.end() + 1 or text[m1.end()] != " " or a not in first or b not in last:
                continue
            if a in lower_words or b in lower_words:
                continue
            if not ({a, b} & (_NEVER | _COMMON)) and not _EPONYM_AFTER.match(text, m2.end()):
                found.append((m1.start(), m2.end()))
    # every other mention of a word of a name already found ("Zofia states ...", "(FITZGERALD)")
    known = {w.lower() for s, e in found for w in _words(text, s, e)}
    known |= {w.lower() for name in known_names for w in _words(name, 0, len(name))}
    known -= _NEVER | _COMMON
    if known:
        alternatives = "|".join(re.escape(w) for w in sorted(known, key=len, reverse=True))
        for m in re.finditer(rf"(?<![\w'’-])(?:{alternatives})(?![\w'’-])", text, re.IGNORECASE):
            word = m.group()
            if (word[0].isupper() and (word.istitle() or word.isupper() or len(word) > 2)) and not _EPONYM_AFTER.match(
                text, m.end()
            ):
                found.append(m.span())
    return found
