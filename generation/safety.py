"""Drug safety checks for an answer: the drugs it names against the patient's allergies and current medicines.

Two kinds of evidence, each cited:

- **Drug labels** in the knowledge base (`kb.core.drugs.DrugLabel`): a patient's medicine (or its class, "NSAIDs",
  "anticoagulants") named in the Contraindications, Boxed Warning or Drug Interactions section of the answer's
  drug's label, or the answer's drug named in the medicine's own label, gives a warning that cites that sentence
  (its character span in the label document). A label's hypersensitivity statement is cited for allergies.
- **A small built-in drug-class table** (`CLASSES`, with the Chinese names of common drugs in `CHINESE_NAMES`): an
  allergy to a drug, to its class, or to a cross-reactive class. Its rules follow FDA labelling of beta-lactams
  ("Contraindications: history of serious hypersensitivity to penicillins or other beta-lactams"; cephalosporin and
  carbapenem labels warn of cross-sensitivity with penicillins), the FDA class labelling of NSAIDs (contraindicated
  after asthma, urticaria or allergic-type reactions to aspirin or other NSAIDs), FDA labelling of sulfonamide
  antibacterials, and the AAAAI/ACAAI Joint Task Force practice parameter "Drug allergy: a 2022 practice parameter
  update" (J Allergy Clin Immunol 2022;150:1333-93). Following that parameter, an allergy to a sulfonamide
  antibiotic is not extended to non-antibiotic sulfonamides (furosemide, thiazides, celecoxib).

`DrugWarning` is part of the data model (`kb.core.types`, carried by `Answer`); it is imported here for convenience.
Messages are written in the question's language (`check_drugs(..., language="zh")`, see `generation.safety_messages`).

Names are matched as words (English, any case) or as substrings (Chinese). The checks are a reminder to read the
cited source, not clinical advice: a mention in a label section is not proof of an interaction, the table is far
from complete, and an empty result does not mean a drug is safe for the patient.

Example::

    drugs = find_drugs(answer.text, store.drugs.drug_names())
    labels = store.drugs.drug_labels_for(lookup_names(drugs, patient))
    for warning in check_drugs(drugs, patient, labels):
        print(warning.message, warning.source, warning.section)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from generation.patient_checks import check_patient, not_checked_without_label
from generation.safety_messages import class_name, cross_note, message, section_name
from kb.core.drugs import DrugLabel, LabelSection, name_keys
from kb.core.types import NOT_CHECKED, DrugWarning, Language, PatientContext, WarningKind

#: ``DrugWarning.source`` of a warning that rests on the built-in class table rather than a label.
TABLE_SOURCE = "medkb drug-class table"
_PRACTICE_PARAMETER = "AAAAI/ACAAI, Drug allergy: a 2022 practice parameter update (J Allergy Clin Immunol 2022)"
_FDA_BETA_LACTAM = "FDA labelling of beta-lactam antibacterials (hypersensitivity to penicillins or other beta-lactams)"
_FDA_NSAID = "FDA class labelling of NSAIDs (reactions after taking aspirin or other NSAIDs)"
_FDA_SULFA = "FDA labelling of sulfonamide antibacterials (hypersensitivity to sulfonamides)"


@dataclass(frozen=True)
class DrugClass:
    """A class of the built-in table: how texts name it, its members (generic names, lower case), name stems
    (``-cillin``, ``cef-``) for members not listed, FDA pharmacologic classes of its members, and, for a class whose
    members share allergies, the reference for that rule (empty for a class used for interactions only)."""

    name: str
    aliases: tuple[str, ...]
    members: tuple[str, ...]
    stems: tuple[str, ...] = ()
    epc: tuple[str, ...] = ()
    allergy_reference: str = ""


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


CLASSES: tuple[DrugClass, ...] = (
    DrugClass(
        "penicillins",
        _names("penicillins, penicillin, penicillin-class antibacterials, aminopenicillins, aminopenicillin"),
        _names(
            "penicillin, penicillin g, penicillin v, benzylpenicillin, phenoxymethylpenicillin, amoxicillin,"
            " ampicillin, piperacillin, flucloxacillin, dicloxacillin, cloxacillin, oxacillin, nafcillin,"
            " ticarcillin, carbenicillin, methicillin, mezlocillin, temocillin, bacampicillin"
        ),
        stems=("-cillin", "-西林"),
        epc=("penicillin-class antibacterial",),
        allergy_reference=f"{_FDA_BETA_LACTAM}; {_PRACTICE_PARAMETER}",
    ),
    DrugClass(
        "cephalosporins",
        _names("cephalosporins, cephalosporin, cephalosporin antibacterials"),
        _names(
            "cefazolin, cephalexin, cefalexin, cefadroxil, cephradine, cephalothin, cefaclor, cefuroxime, cefprozil,"
            " cefoxitin, cefotetan, ceftriaxone, cefotaxime, ceftazidime, cefoperazone, cefdinir, cefixime,"
            " cefpodoxime, cefditoren, cefepime, ceftaroline, ceftolozane, cefiderocol"
        ),
        stems=("cef-", "头孢-"),
        epc=("cephalosporin antibacterial",),
        allergy_reference=f"{_FDA_BETA_LACTAM}; {_PRACTICE_PARAMETER}",
    ),
    DrugClass(
        "carbapenems",
        _names("carbapenems, carbapenem, penems"),
        _names("imipenem, meropenem, ertapenem, doripenem, biapenem"),
        stems=("-penem", "-培南"),
        epc=("penem antibacterial",),
        allergy_reference=f"{_FDA_BETA_LACTAM}; {_PRACTICE_PARAMETER}",
    ),
    DrugClass(
        "sulfonamide antibiotics",
        _names("sulfonamide antibiotics, sulfonamide antibacterials, sulfonamides, sulfonamide, sulfa drugs, sulfa"),
        _names(
            "sulfamethoxazole, sulfadiazine, silver sulfadiazine, sulfisoxazole, sulfacetamide, sulfadoxine,"
            " sulfasalazine, co-trimoxazole"
        ),
        epc=("sulfonamide antibacterial",),
        allergy_reference=f"{_FDA_SULFA}; {_PRACTICE_PARAMETER}",
    ),
    DrugClass(
        "NSAIDs",
        _names(
            "nsaids, nsaid, nonsteroidal anti-inflammatory drugs, non-steroidal anti-inflammatory drugs,"
            " nonsteroidal anti-inflammatory drug"
        ),
        _names(
            "aspirin, acetylsalicylic acid, ibuprofen, naproxen, diclofenac, ketoprofen, flurbiprofen, fenoprofen,"
            " loxoprofen, oxaprozin, ketorolac, indomethacin, sulindac, etodolac, tolmetin, nabumetone, meloxicam,"
            " piroxicam, mefenamic acid, diflunisal, celecoxib"
        ),
        stems=("-profen", "-fenac", "-oxicam"),
        epc=("nonsteroidal anti-inflammatory drug",),
        allergy_reference=f"{_FDA_NSAID}; {_PRACTICE_PARAMETER}",
    ),
    DrugClass(
        "anticoagulants",
        _names("anticoagulants, anticoagulant, oral anticoagulants, blood thinners"),
        _names(
            "warfarin, acenocoumarol, phenindione, heparin, enoxaparin, dalteparin, apixaban, rivaroxaban,"
            " edoxaban, dabigatran"
        ),
        stems=("-xaban", "-parin", "-沙班"),
        epc=("vitamin k antagonist", "factor xa inhibitor", "direct thrombin inhibitor"),
    ),
    DrugClass(
        "nitrates",
        _names("nitrates, organic nitrates, organic nitrites, nitric oxide donors"),
        _names("nitroglycerin, glyceryl trinitrate, isosorbide mononitrate, isosorbide dinitrate, amyl nitrite"),
        epc=("nitrate vasodilator",),
    ),
    DrugClass(
        "statins",
        _names("statins, hmg-coa reductase inhibitors, hmg-coa reductase inhibitor"),
        _names("atorvastatin, simvastatin, rosuvastatin, pravastatin, lovastatin, fluvastatin, pitavastatin"),
        stems=("-伐他汀",),
        epc=("hmg-coa reductase inhibitor",),
    ),
    DrugClass(
        "fibrates",
        _names("fibrates, fibric acid derivatives"),
        _names("gemfibrozil, fenofibrate, fenofibric acid, bezafibrate"),
    ),
    DrugClass(
        "monoamine oxidase inhibitors",
        _names("monoamine oxidase inhibitors, monoamine oxidase inhibitor, maois, maoi"),
        _names("phenelzine, tranylcypromine, isocarboxazid, selegiline, rasagiline, moclobemide"),
    ),
    DrugClass(
        "alpha-blockers",
        _names("alpha-blockers, alpha-blocker, alpha blockers, alpha-adrenergic blocking agents"),
        _names("doxazosin, terazosin, prazosin, tamsulosin, alfuzosin, silodosin"),
    ),
    DrugClass(
        "HIV protease inhibitors",
        _names("hiv protease inhibitors, protease inhibitors"),
        _names("ritonavir, lopinavir, darunavir, saquinavir, atazanavir, fosamprenavir, tipranavir, nelfinavir"),
    ),
    DrugClass(
        "strong CYP3A4 inhibitors",
        _names("strong cyp3a4 inhibitors, strong cyp 3a4 inhibitors, strong inhibitors of cyp 3a4"),
        _names("clarithromycin, itraconazole, ketoconazole, posaconazole, voriconazole, ritonavir, cobicistat"),
    ),
    DrugClass(
        "PDE5 inhibitors",
        _names(
            "pde5 inhibitors, pde-5 inhibitors, phosphodiesterase type 5 inhibitors, phosphodiesterase 5 inhibitors"
        ),
        _names("sildenafil, tadalafil, vardenafil, avanafil"),
        stems=("-afil", "-那非"),
        epc=("phosphodiesterase 5 inhibitor",),
    ),
    DrugClass(
        "TNF blockers",
        _names("tnf blockers, tnf blocker, tnf inhibitors"),
        _names("adalimumab, infliximab, etanercept, certolizumab pegol, golimumab"),
    ),
)

#: Allergies that extend across classes: (class, class, what the rule says). Symmetric.
CROSS_REACTIVE: tuple[tuple[str, str, str], ...] = (
    (
        "penicillins",
        "cephalosporins",
        "cross-reactivity is uncommon (about 1-2%, mostly through similar side chains such as amoxicillin with"
        " cephalexin or cefadroxil), but cephalosporin labels warn of cross-sensitivity to penicillins",
    ),
    ("penicillins", "carbapenems", "cross-reactivity is rare (under 1%); carbapenem labels warn of it"),
    ("cephalosporins", "carbapenems", "cross-reactivity is rare (under 1%); both are beta-lactams"),
)

_FDA_NSAID_ANTICOAGULANT = (
    "FDA class labelling of NSAIDs (Warnings, Hematologic Toxicity; Drug Interactions: drugs that interfere with"
    " hemostasis such as warfarin)"
)
_FDA_PDE5_NITRATE = "FDA labelling of PDE5 inhibitors (Contraindications: concomitant use of organic nitrates)"
_FDA_STATIN_FIBRATE = "FDA labelling of HMG-CoA reductase inhibitors (Drug Interactions: fibrates, risk of myopathy)"

#: Interactions between classes that hold whatever the labels in the knowledge base say: (class, class, what happens,
#: the named source). Symmetric.
INTERACTING: tuple[tuple[str, str, str, str], ...] = (
    (
        "NSAIDs",
        "anticoagulants",
        "taken together they raise the risk of serious bleeding",
        _FDA_NSAID_ANTICOAGULANT,
    ),
    (
        "PDE5 inhibitors",
        "nitrates",
        "taken together they can lower blood pressure dangerously; the combination is contraindicated",
        _FDA_PDE5_NITRATE,
    ),
    ("statins", "fibrates", "taken together they raise the risk of myopathy and rhabdomyolysis", _FDA_STATIN_FIBRATE),
)

#: Chinese names of common drugs and classes, with the English name the checks use.
CHINESE_NAMES: dict[str, str] = {
    "青霉素": "penicillin",
    "青霉素类": "penicillins",
    "苄星青霉素": "penicillin g",
    "阿莫西林": "amoxicillin",
    "阿莫西林克拉维酸钾": "amoxicillin",
    "氨苄西林": "ampicillin",
    "哌拉西林": "piperacillin",
    "氟氯西林": "flucloxacillin",
    "双氯西林": "dicloxacillin",
    "苯唑西林": "oxacillin",
    "萘夫西林": "nafcillin",
    "头孢": "cephalosporins",
    "头孢菌素": "cephalosporins",
    "头孢类": "cephalosporins",
    "头孢氨苄": "cephalexin",
    "头孢唑林": "cefazolin",
    "头孢羟氨苄": "cefadroxil",
    "头孢拉定": "cephradine",
    "头孢克洛": "cefaclor",
    "头孢呋辛": "cefuroxime",
    "头孢丙烯": "cefprozil",
    "头孢西丁": "cefoxitin",
    "头孢曲松": "ceftriaxone",
    "头孢噻肟": "cefotaxime",
    "头孢他啶": "ceftazidime",
    "头孢哌酮": "cefoperazone",
    "头孢地尼": "cefdinir",
    "头孢克肟": "cefixime",
    "头孢泊肟": "cefpodoxime",
    "头孢吡肟": "cefepime",
    "碳青霉烯": "carbapenems",
    "亚胺培南": "imipenem",
    "美罗培南": "meropenem",
    "厄他培南": "ertapenem",
    "比阿培南": "biapenem",
    "磺胺": "sulfonamide antibiotics",
    "磺胺类": "sulfonamide antibiotics",
    "磺胺类药物": "sulfonamide antibiotics",
    "磺胺甲噁唑": "sulfamethoxazole",
    "磺胺甲恶唑": "sulfamethoxazole",
    "复方新诺明": "co-trimoxazole",
    "磺胺嘧啶": "sulfadiazine",
    "柳氮磺吡啶": "sulfasalazine",
    "非甾体抗炎药": "nsaids",
    "非甾体类抗炎药": "nsaids",
    "阿司匹林": "aspirin",
    "布洛芬": "ibuprofen",
    "萘普生": "naproxen",
    "双氯芬酸": "diclofenac",
    "洛索洛芬": "loxoprofen",
    "吲哚美辛": "indomethacin",
    "美洛昔康": "meloxicam",
    "吡罗昔康": "piroxicam",
    "塞来昔布": "celecoxib",
    "酮咯酸": "ketorolac",
    "抗凝药": "anticoagulants",
    "华法林": "warfarin",
    "肝素": "heparin",
    "依诺肝素": "enoxaparin",
    "利伐沙班": "rivaroxaban",
    "阿哌沙班": "apixaban",
    "达比加群": "dabigatran",
    "硝酸甘油": "nitroglycerin",
    "单硝酸异山梨酯": "isosorbide mononitrate",
    "硝酸异山梨酯": "isosorbide dinitrate",
    "他汀": "statins",
    "他汀类": "statins",
    "阿托伐他汀": "atorvastatin",
    "辛伐他汀": "simvastatin",
    "瑞舒伐他汀": "rosuvastatin",
    "普伐他汀": "pravastatin",
    "吉非罗齐": "gemfibrozil",
    "非诺贝特": "fenofibrate",
    "克拉霉素": "clarithromycin",
    "红霉素": "erythromycin",
    "伊曲康唑": "itraconazole",
    "酮康唑": "ketoconazole",
    "利托那韦": "ritonavir",
    "环孢素": "cyclosporine",
    "地高辛": "digoxin",
    "秋水仙碱": "colchicine",
    "利福平": "rifampin",
    "甲氨蝶呤": "methotrexate",
    "西地那非": "sildenafil",
    "他达拉非": "tadalafil",
    "氨氯地平": "amlodipine",
    "氟哌啶醇": "haloperidol",
    "阿达木单抗": "adalimumab",
}

_BY_NAME = {c.name: c for c in CLASSES}
_ALIAS = {alias: c.name for c in CLASSES for alias in c.aliases}
_MEMBER: dict[str, set[str]] = {}
for _class in CLASSES:
    for _member in _class.members:
        _MEMBER.setdefault(_member, set()).add(_class.name)
_EPC = {epc: c.name for c in CLASSES for epc in c.epc}
_CROSS = {frozenset((a, b)): note for a, b, note in CROSS_REACTIVE}
_INTERACTING = {frozenset((a, b)): (note, reference) for a, b, note, reference in INTERACTING}

_WORD = re.compile(r"[A-Za-z0-9\u0370-\u03ff]+")  # Greek too: "β-lactam"
_HAN = re.compile(r"[\u3400-\u9fff]")
_DOSE = re.compile(r"\s+\d.*$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\[])|(?<=[。！？；])")
# A numbered subsection title ("7.10 Warfarin"): a poor passage to cite when a sentence names the same thing.
_HEADING = re.compile(r"(\d+(\.\d+)*\.?\s+)?[^.:;!?。]{0,80}")
_HYPERSENSITIVITY = re.compile(r"hypersensitiv|allerg|anaphyla|过敏", re.IGNORECASE)
_BETA_LACTAMS = frozenset(("penicillins", "cephalosporins", "carbapenems"))
_BETA_LACTAM_TERMS = ("beta-lactams", "beta-lactam", "beta lactam", "β-lactam", "β-lactams")
#: Sections that list a drug's interactions; a label without any has not been checked against the medications.
_INTERACTION_LISTS = ("Drug Interactions", "Ask Doctor or Pharmacist")
_INTERACTION_SECTIONS = (
    "Contraindications",
    "Boxed Warning",
    "Drug Interactions",
    "Do Not Use",
    "Ask Doctor or Pharmacist",
    "Warnings",
)
_ALLERGY_SECTIONS = ("Contraindications", "Boxed Warning", "Warnings and Precautions", "Warnings")
_PRIORITY: dict[str, int] = {"allergy": 0, "cross-reactivity": 1, "contraindication": 0, "interaction": 1}
_GROUP = {"allergy": "allergy", "cross-reactivity": "allergy", "contraindication": "interaction"}


def find_drugs(text: str, known_names: Iterable[str]) -> list[str]:
    """Drug names mentioned in ``text``, in order of first mention, each once: the knowledge base's label names
    (``known_names``, as `DrugTable.drug_names` gives them), the class table's members and their Chinese names, and
    words with a member stem ("cefuroxime"). English names come back in lower case, Chinese ones as written."""
    names = {n.lower() for n in known_names if len(n) >= 3}
    names.update(_MEMBER)
    names.update(c for c, english in CHINESE_NAMES.items() if english in _MEMBER)
    found = [name for _, _, name in _Vocabulary(names, stems=True).find(text)]
    return list(dict.fromkeys(found))


def lookup_names(drugs: Iterable[str], patient: PatientContext) -> list[str]:
    """The English names to look labels up by (`DrugTable.drug_labels_for`) for checking ``drugs`` for ``patient``."""
    out: list[str] = []
    for drug in drugs:
        out += name_keys(_english(drug))
    vocabulary = _Vocabulary(_table_names())
    for item in [*patient.medications, *patient.allergies]:
        out += [key for term in _terms(item, vocabulary) for key in name_keys(_english(term))]
    return list(dict.fromkeys(out))


def check_drugs(
    drugs: Iterable[str], patient: PatientContext, labels: Sequence[DrugLabel], *, language: Language = "en"
) -> list[DrugWarning]:
    """Warnings for ``drugs`` (as `find_drugs` returns them) against the patient's allergies and medications, using
    the drug labels given (from `DrugTable.drug_labels_for`) and the class table, and against pregnancy, conditions
    and age from the labels (`generation.patient_checks`). At most one allergy-type and one interaction-type warning
    per drug and patient item (names of a drug checked already are skipped): the strongest, a label's citation
    before the table's. Whatever could not be checked (no label, or no label section that speaks to a field) comes
    back as a ``"not checked"`` entry, never as silence. Messages are written in ``language`` (see
    `generation.safety_messages`)."""
    vocabulary = _Vocabulary(_table_names() | {n for label in labels for n in label.lookup_names()})
    allergies = [(item, _resolve(t, labels)) for item in patient.allergies for t in _terms(item, vocabulary)]
    medicines = [(item, _resolve(t, labels)) for item in patient.medications for t in _terms(item, vocabulary)]
    best: dict[tuple[str, str, str], DrugWarning] = {}
    seen: set[str] = set()
    for given in dict.fromkeys(drugs):
        drug = _resolve(given, labels)
        if drug.keys & seen:  # another name of a drug checked already ("Lipitor" after "atorvastatin")
            continue
        seen |= drug.keys
        found = [w for item, allergen in allergies if (w := _allergy(drug, item, allergen, language))]
        found += [w for item, medicine in medicines for w in _interactions(drug, item, medicine, language)]
        found += check_patient(drug.given, drug.labels, patient, language=language)
        if not drug.labels:
            found += not_checked_without_label(drug.given, patient, language)
        elif not any(name in label.sections for label in drug.labels for name in _INTERACTION_LISTS):
            warned = {w.patient_item for w in found}
            label = drug.labels[0]
            text = message("no_section", language, title=label.title, field=message("field_medications", language))
            for item in dict.fromkeys(item for item, _ in medicines if item not in warned):
                found.append(DrugWarning(drug.given, NOT_CHECKED, text, item, label.source, label.doc_id, label.title))
        for warning in found:
            key = (warning.drug, warning.patient_item, _GROUP.get(warning.kind, warning.kind))
            if key not in best or _rank(warning) < _rank(best[key]):
                best[key] = warning
    return list(best.values())


# -- names ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Named:
    """What a drug name, or a term of the patient record, refers to."""

    given: str
    keys: frozenset[str]  # the English names it goes by, its labels' names included
    classes: frozenset[str]  # the classes it belongs to (or names)
    names_class: str | None  # the class, if the term is a class name ("penicillins", "sulfa")
    labels: tuple[DrugLabel, ...]


def _resolve(name: str, labels: Sequence[DrugLabel]) -> _Named:
    english = _english(name)
    keys = set(name_keys(english))
    own = tuple(label for label in labels if keys & label.lookup_names())
    for label in own:
        keys |= label.lookup_names()
    classes = {c for key in keys for c in _MEMBER.get(key, set()) | _stem_classes(key)} | _stem_classes(name)
    classes |= {_EPC[epc.lower()] for label in own for epc in label.classes if epc.lower() in _EPC}
    names_class = _ALIAS.get(english)
    if names_class:
        classes.add(names_class)
    return _Named(name, frozenset(keys), frozenset(classes), names_class, own)


def _english(name: str) -> str:
    name = " ".join(name.split())
    return CHINESE_NAMES.get(name, name.lower())


def _stem_classes(name: str) -> set[str]:
    out = set()
    for drug_class in CLASSES:
        for stem in drug_class.stems:
            word = stem.strip("-")
            if (stem.startswith("-") and name.endswith(word)) or (stem.endswith("-") and name.startswith(word)):
                if name != word and name not in _ALIAS:
                    out.add(drug_class.name)
    return out


def _table_names() -> set[str]:
    return set(_MEMBER) | set(_ALIAS) | set(CHINESE_NAMES)


def _terms(item: str, vocabulary: _Vocabulary) -> list[str]:
    """The drug or class names in a patient record item ("penicillin (rash)", "warfarin 5 mg", "青霉素过敏"); the
    item without its dose when it names none the checks know."""
    found = [name for _, _, name in vocabulary.find(item)]
    return list(dict.fromkeys(found)) or [_DOSE.sub("", item).strip()]


class _Vocabulary:
    """Names to find in a text: English ones word by word (any case), Chinese ones as substrings; the longest
    name wins where names overlap."""

    def __init__(self, names: Iterable[str], *, stems: bool = False) -> None:
        self.words: dict[str, list[tuple[str, ...]]] = {}
        self.chinese: list[str] = []
        self.names: dict[tuple[str, ...], str] = {}
        self.stems = stems
        for name in names:
            if _HAN.search(name):
                self.chinese.append(name)
            elif words := tuple(w.lower() for w in _WORD.findall(name)):
                self.words.setdefault(words[0], []).append(words)
                self.names.setdefault(words, name)
        for candidates in self.words.values():
            candidates.sort(key=len, reverse=True)
        self.chinese.sort(key=len, reverse=True)

    def find(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, name) of each mention, in text order."""
        spans: list[tuple[int, int, str]] = []
        tokens = [(m.start(), m.end(), m.group().lower()) for m in _WORD.finditer(text)]
        i = 0
        while i < len(tokens):
            word = tokens[i][2]
            match = next(
                (c for c in self.words.get(word, ()) if tuple(t[2] for t in tokens[i : i + len(c)]) == c), None
            )
            if match:
                spans.append((tokens[i][0], tokens[i + len(match) - 1][1], self.names[match]))
                i += len(match)
                continue
            if self.stems and len(word) > 5 and word.isalpha() and _stem_classes(word):
                spans.append((tokens[i][0], tokens[i][1], word))
            i += 1
        taken = [(s, e) for s, e, _ in spans]
        for name in self.chinese:
            for m in re.finditer(re.escape(name), text):
                if all(m.end() <= s or m.start() >= e for s, e in taken):
                    spans.append((m.start(), m.end(), name))
                    taken.append((m.start(), m.end()))
        return sorted(spans)


# -- checks --------------------------------------------------------------------------------------------------------


class _Mention(NamedTuple):
    """A sentence of a label section that names something: its span in the label document, the words as written,
    and the class the words name (empty for a drug's own name)."""

    start: int
    end: int
    words: str
    names_class: str


def _allergy(drug: _Named, item: str, allergen: _Named, language: Language) -> DrugWarning | None:
    """The allergy warning for ``drug`` given one recorded allergen, if any: the same drug, a member of the class
    the patient is allergic to, the same class, or a cross-reactive class; cited from the drug's label where its
    hypersensitivity statement names the allergen (or its class), else from the class table."""
    shared = sorted(c for c in drug.classes & allergen.classes if _BY_NAME[c].allergy_reference)
    cross = sorted((a, d) for a in allergen.classes for d in drug.classes if a != d and frozenset((a, d)) in _CROSS)
    kind: WarningKind = "allergy"
    if drug.keys & allergen.keys:
        rule = message("allergy_same", language, drug=drug.given, item=item)
        reference = "patient allergy list"
    elif allergen.names_class and allergen.names_class in shared:
        drug_class = class_name(allergen.names_class, language)
        rule = message("allergy_class", language, drug=drug.given, drug_class=drug_class, item=item)
        reference = _BY_NAME[allergen.names_class].allergy_reference
    elif shared:
        kind = "cross-reactivity"
        drug_class = class_name(shared[0], language)
        rule = message("allergy_shared", language, drug=drug.given, item=item, drug_class=drug_class)
        reference = _BY_NAME[shared[0]].allergy_reference
    elif cross:
        a, d = cross[0]
        kind = "cross-reactivity"
        note = cross_note(a, d, _CROSS[frozenset((a, d))], language)
        rule = message(
            "allergy_cross",
            language,
            drug=drug.given,
            drug_class=class_name(d, language),
            item=item,
            other_class=class_name(a, language),
            note=note,
        )
        reference = _BY_NAME[a].allergy_reference
    else:
        rule, reference = "", ""
    aliases = {alias for c in allergen.classes for alias in _BY_NAME[c].aliases}
    if allergen.classes & _BETA_LACTAMS and drug.classes & _BETA_LACTAMS:
        aliases.update(_BETA_LACTAM_TERMS)
    for label in drug.labels:
        for name in _ALLERGY_SECTIONS:
            section = label.sections.get(name)
            found = _mention(section, allergen.keys, aliases, require=_HYPERSENSITIVITY) if section else None
            if section and found:
                if not rule:
                    rule = message("label_hypersensitivity", language, title=label.title, words=found.words)
                text = message(
                    "see_label", language, rule=rule, section=section_name(name, language), title=label.title
                )
                return _cited(drug, kind, text, item, label, section, found)
    if not rule:
        return None
    return DrugWarning(
        drug.given, kind, message("table_rule", language, rule=rule), item, TABLE_SOURCE, reference=reference
    )


def _interactions(drug: _Named, item: str, medicine: _Named, language: Language) -> list[DrugWarning]:
    """Interaction warnings for ``drug`` and one medicine the patient takes: the medicine (or its class) named in
    the drug's label, or the drug (or its class) named in the medicine's label."""
    if drug.keys & medicine.keys:
        return []
    pairs = [(label, medicine, True) for label in drug.labels]
    pairs += [(label, drug, False) for label in medicine.labels if label not in drug.labels]
    out = []
    for label, other, forward in pairs:
        aliases = {alias for c in other.classes for alias in _BY_NAME[c].aliases}
        for name in _INTERACTION_SECTIONS:
            section = label.sections.get(name)
            found = _mention(section, other.keys, aliases) if section else None
            if not (section and found):
                continue
            kind: WarningKind = "contraindication" if name == "Contraindications" else "interaction"
            is_one = message("is_one", language, drug=other.given) if found.names_class else ""
            text = message(
                "label_mentions" if forward else "medication_label_mentions",
                language,
                section=section_name(name, language),
                title=label.title,
                words=found.words,
                is_one=is_one,
                item=item,
            )
            out.append(_cited(drug, kind, text, item, label, section, found))
    if not out:
        out += _table_interactions(drug, item, medicine, language)
    return out


def _table_interactions(drug: _Named, item: str, medicine: _Named, language: Language) -> list[DrugWarning]:
    """The class table's interaction between ``drug`` and the patient's ``medicine``, if their classes interact."""
    for mine in sorted(drug.classes):
        for theirs in sorted(medicine.classes):
            rule = _INTERACTING.get(frozenset((mine, theirs)))
            if rule is None or mine == theirs:
                continue
            note, reference = rule
            text = message(
                "table_interaction",
                language,
                drug=drug.given,
                drug_class=class_name(mine, language),
                item=item,
                other_class=class_name(theirs, language),
                note=note,
            )
            return [DrugWarning(drug.given, "interaction", text, item, TABLE_SOURCE, reference=reference)]
    return []


def _mention(
    section: LabelSection, names: Iterable[str], aliases: Iterable[str], require: re.Pattern[str] | None = None
) -> _Mention | None:
    """The sentence of ``section`` that best names one of ``names`` or of the class names ``aliases`` (and matches
    ``require``): a sentence before a heading line, a name before a class name, then the first."""
    names = set(names)
    best: tuple[tuple[bool, bool], _Mention] | None = None
    for start, end, name in _Vocabulary({*names, *aliases}).find(section.text):
        s, e = _sentence(section.text, start, end)
        sentence = section.text[s:e]
        if require is not None and not require.search(sentence):
            continue
        is_class = name not in names
        rank = (_HEADING.fullmatch(sentence) is not None, is_class)
        if best is None or rank < best[0]:
            names_class = _ALIAS.get(name, name) if is_class else ""
            best = (rank, _Mention(section.start + s, section.start + e, section.text[start:end], names_class))
        if rank == (False, False):
            break
    return best[1] if best else None


def _sentence(text: str, start: int, end: int) -> tuple[int, int]:
    """The span of the sentence (or list line) of ``text`` around ``text[start:end]``, without outer spaces."""
    lo = text.rfind("\n", 0, start) + 1
    hi = text.find("\n", end)
    hi = len(text) if hi < 0 else hi
    for m in _SENTENCE_END.finditer(text, lo, hi):
        if m.end() <= start:
            lo = m.end()
        elif m.start() >= end:
            hi = m.start()
            break
    while lo < hi and text[lo].isspace():
        lo += 1
    while hi > lo and text[hi - 1].isspace():
        hi -= 1
    return lo, hi


def _cited(
    drug: _Named, kind: WarningKind, message: str, item: str, label: DrugLabel, section: LabelSection, at: _Mention
) -> DrugWarning:
    quote = section.text[at.start - section.start : at.end - section.start]
    return DrugWarning(
        drug.given, kind, message, item, label.source, label.doc_id, label.title, section.name, at.start, at.end, quote
    )


def _rank(warning: DrugWarning) -> tuple[int, bool]:
    return _PRIORITY.get(warning.kind, 0), warning.source == TABLE_SOURCE
