"""Generate the synthetic, labelled clinical notes used to measure de-identification (``ingest.deid``).

    python tests/data/deid/make_notes.py    # writes notes_dev.jsonl (seed 1, 64 notes), notes_test.jsonl (seed 2, 82)

Every note is rendered from a template whose ``{SLOT}`` markers are filled either with an identifier (recorded as
``{"start", "end", "kind", "text"}`` in the note's ``spans``) or with medical filler that must survive redaction
(drug doses, eponymous diseases, lab values, vital signs, years alone, ages under 90, times). All people, places
and numbers are invented. The names come from the hand-written lists below, not from the census lists the
detector uses, so that name recall is not circular (some common names appear in both, as they would in life).

Conventions of the labels: titles (Mr., Dr.) and credentials (MD, RN) are not part of a NAME span; an AGE span is
the number alone, and only ages over 89 are labelled; an ADDRESS span runs from the house number through the
city (the state stays); a city named alone in running text is an ADDRESS too; a month with a year is a DATE.
The test split adds notes from three held-out templates (``HELD_OUT``) that the dev split never shows. The output
is deterministic: the same seed always gives the same file.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent

FIRST_NAMES = [
    "Olusegun", "Agnieszka", "Siobhan", "Thanh", "Mei-Ling", "Kwame", "Priya", "Tomasz", "Ingrid", "Bartholomew",
    "Yusuf", "Chiamaka", "Esperanza", "Dmitri", "Aoife", "Rangi", "Nkechi", "Haruto", "Sunniva", "Björn", "Zofia",
    "Matías", "Leilani", "Ifeoma", "Anneliese", "Cormac", "Farida", "Hamid", "Xiomara", "Jarrah", "Wen", "Ravi",
    "Margaret", "Robert", "Linda", "James", "Dolores", "Earl", "Beatriz", "Guadalupe", "Tobias", "Ezinne", "Sigrid",
    "Radu", "Fatou", "Keanu", "László", "Oluwaseun", "Saoirse", "Anh", "Kiri", "Themba", "Ximena", "Eero", "Niamh",
    "Bongani", "Yara", "Tariq", "Ottoline", "Gwendolyn", "Desmond", "Florentyna", "Ahanu", "Rosalind", "Vikram",
    "Hyun-woo", "Ji-yeon", "Marisol", "Teodor", "Ebele", "Amara", "Caoimhe", "Lachlan", "Zainab", "Ngozi",
]  # fmt: skip

LAST_NAMES = [
    "Adeyemi-Clarke", "Kowalczyk", "O'Callaghan", "Nguyen-Tran", "Raghunathan", "Wiśniewski", "Okonkwo", "Haugland",
    "Fitzgerald", "Castellanos", "McAllister", "Abernathy", "Szymańska", "Tanaka", "Bergström", "Oyelowo",
    "Petrosyan", "Mahlangu", "Quispe", "Delacroix", "Halvorsen", "Achterberg", "Ferreira-Lima", "Baptiste",
    "Nakamura", "Al-Rashid", "Johnson", "Garcia", "Miller", "Whitfield", "Featherstonehaugh", "Ekwueme",
    "Villanueva", "Przybylski", "Mwangi", "Thorvaldsen", "Kapoor", "Ruiz-Esparza", "MacLeod", "Oduya", "Lindqvist",
    "Dubois", "Hakimi", "Papadopoulos", "Ishikawa", "Brennan", "Zielinski", "Obi", "Moreau-Blanc", "Ngata",
    "Sørensen", "Kuznetsova", "Achebe", "Dimitrov", "Ferrante", "Olawale", "Soto", "Yilmaz", "Van der Berg",
    "de la Cruz", "Ó Briain", "Goldberg", "Chakraborty", "Tuilagi", "Henriksen", "Pemberton", "Osei",
]  # fmt: skip

CITIES = [
    "Springfield", "Eau Claire", "San Leandro", "Bellingham", "Coeur d'Alene", "Greenville", "Lakewood",
    "Port Townsend", "Fall River", "Ypsilanti", "Santa Rosa", "Bozeman", "Chattanooga", "Kalamazoo", "Duluth",
]  # fmt: skip
STATES = ["IL", "WI", "CA", "WA", "ID", "SC", "CO", "MA", "MI", "MT", "TN", "MN", "OR", "NY", "TX"]
STREETS = [
    "Maple Ridge", "Kingfisher", "Old Mill", "Wexford", "Birchwood", "Harbor View", "Juniper", "Cedar Hollow",
    "Willow Bend", "Prospect", "Larkspur", "Foxglove", "Quarry", "Chestnut", "Orchard Hill",
]  # fmt: skip
SUFFIXES = ["Street", "St", "Avenue", "Ave", "Road", "Rd", "Drive", "Dr", "Lane", "Ln", "Court", "Way", "Boulevard"]
DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "proton.me", "icloud.com", "comcast.net"]
HOSPITALS = ["stmarys-health.org", "riverbendmed.org", "northvalleyclinic.com", "lakeshorehealth.net"]
FACILITIES = ["St. Joseph Medical Center", "Mercy General Hospital", "Lakeshore Rehabilitation Center"]

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]  # fmt: skip

# --- medical filler that must survive redaction ------------------------------------------------------------------

CONDITIONS = [
    "Parkinson disease", "Crohn disease", "Hodgkin lymphoma", "Down syndrome", "Alzheimer dementia",
    "Graves disease", "Cushing syndrome", "Bell palsy", "Hashimoto thyroiditis", "Guillain-Barré syndrome",
    "Barrett esophagus", "Raynaud phenomenon", "Sjögren syndrome", "Wilson disease", "Addison disease",
    "Meniere disease", "Dupuytren contracture", "atrial fibrillation", "type 2 diabetes mellitus",
    "chronic kidney disease stage 3b", "COPD", "heart failure with reduced ejection fraction", "hypertension",
    "hyperlipidemia", "osteoarthritis of the right knee", "non-Hodgkin lymphoma", "Kaposi sarcoma",
]  # fmt: skip
MEDS = [
    "Warfarin 5 mg PO daily", "Metformin 500 mg PO BID", "Lisinopril 10 mg daily", "Atorvastatin 40 mg at night",
    "Furosemide (Lasix) 40 mg daily", "Levetiracetam (Keppra) 500 mg BID", "Apixaban (Eliquis) 5 mg BID",
    "Carbidopa-levodopa 25/100 mg TID", "Levothyroxine 75 mcg daily", "Insulin glargine 22 units at bedtime",
    "Sertraline (Zoloft) 50 mg daily", "Acetaminophen (Tylenol) 650 mg q6h PRN", "Amoxicillin 500 mg TID x 7 days",
    "Prednisone 40 mg daily, taper by 10 mg every 3 days", "Mesalamine 1.2 g daily", "Donepezil 10 mg nightly",
    "Tamsulosin 0.4 mg daily", "Omeprazole 20 mg daily", "Metoprolol succinate 50 mg daily", "Ondansetron 4 mg PRN",
]  # fmt: skip
FINDINGS = [
    "Murphy sign negative", "Babinski sign absent bilaterally", "Glasgow Coma Scale 15", "Homans sign negative",
    "no Kernig or Brudzinski sign", "Foley catheter in place", "Holter monitor showed paroxysmal AF",
    "CHA2DS2-VASc score 4", "Wells score 1", "NYHA class II", "ECOG performance status 1", "Epley maneuver performed",
]  # fmt: skip


def _labs(rng: random.Random) -> str:
    return (
        f"Hb {rng.uniform(8, 15):.1f} g/dL, WBC {rng.uniform(3, 14):.1f} x10^9/L, Na {rng.randint(128, 145)} mmol/L, "
        f"K {rng.uniform(3.1, 5.6):.1f} mmol/L, creatinine {rng.uniform(0.6, 2.4):.2f} mg/dL, "
        f"eGFR {rng.randint(22, 95)}, INR {rng.uniform(0.9, 3.4):.1f}, HbA1c {rng.uniform(5.2, 10.5):.1f}%"
    )


def _vitals(rng: random.Random) -> str:
    return (
        f"BP {rng.randint(95, 170)}/{rng.randint(55, 100)}, HR {rng.randint(52, 118)}, RR {rng.randint(12, 26)}, "
        f"T {rng.uniform(36.1, 38.9):.1f} C, SpO2 {rng.randint(88, 100)}% on room air, weight {rng.randint(45, 130)} kg"
    )


def _time(rng: random.Random) -> str:
    return rng.choice(
        [f"{rng.randint(0, 23):02d}:{rng.choice(['00', '15', '30', '45'])}", f"{rng.randint(6, 22):02d}00"]
    )


# --- identifiers --------------------------------------------------------------------------------------------------


def _date(rng: random.Random, year: int | None = None) -> str:
    y = year or rng.randint(2015, 2025)
    m, d = rng.randint(1, 12), rng.randint(1, 28)
    mon = MONTHS[m - 1]
    return rng.choice(
        [
            f"{m:02d}/{d:02d}/{y}",
            f"{m}/{d}/{y % 100:02d}",
            f"{y}-{m:02d}-{d:02d}",
            f"{mon} {d}, {y}",
            f"{mon[:3]} {d}, {y}",
            f"{d} {mon} {y}",
            f"{d:02d}-{mon[:3]}-{y}",
            f"{m}/{d}/{y}",
        ]
    )


def _short_date(rng: random.Random) -> str:
    m, d = rng.randint(1, 12), rng.randint(1, 28)
    return rng.choice([f"{MONTHS[m - 1]} {d}", f"{m}/{d}", f"{MONTHS[m - 1][:3]} {d}"])


def _phone(rng: random.Random) -> str:
    a, b, c = rng.randint(201, 989), rng.randint(200, 999), rng.randint(0, 9999)
    return rng.choice(
        [f"({a}) {b}-{c:04d}", f"{a}-{b}-{c:04d}", f"{a}.{b}.{c:04d}", f"+1 {a} {b} {c:04d}", f"{a} {b} {c:04d}"]
    )


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def _alnum(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(n))


def _mrn(rng: random.Random) -> str:
    return rng.choice([_digits(rng, 8), _digits(rng, 7), f"MR-{_digits(rng, 4)}-{_digits(rng, 3)}", _digits(rng, 10)])


def _account(rng: random.Random) -> str:
    return rng.choice([_digits(rng, 10), f"A-{_digits(rng, 7)}", f"{_digits(rng, 5)}-{_digits(rng, 4)}"])


def _license(rng: random.Random) -> str:
    return rng.choice([f"{_alnum(rng, 2)}{_digits(rng, 7)}", f"MD-{_digits(rng, 5)}", f"RN{_digits(rng, 6)}"])


def _device(rng: random.Random) -> str:
    return rng.choice(
        [
            f"PJN{_digits(rng, 6)}H",
            f"{_alnum(rng, 3)}-{_digits(rng, 5)}",
            f"{_digits(rng, 2)}-{_digits(rng, 4)}-{_digits(rng, 3)}",
        ]
    )


def _ssn(rng: random.Random) -> str:
    return f"{rng.randint(100, 665)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}"


def _plan(rng: random.Random) -> str:
    return rng.choice(
        [
            f"{_digits(rng, 1)}{_alnum(rng, 3)}-{_alnum(rng, 3)}-{_alnum(rng, 4)}",
            f"XHP{_digits(rng, 9)}",
            f"{_digits(rng, 2)}-{_digits(rng, 4)}-{_digits(rng, 4)}",
        ]
    )


def _ip(rng: random.Random) -> str:
    return rng.choice(
        [
            f"192.168.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            f"{rng.randint(23, 220)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
        ]
    )


def _person(rng: random.Random) -> tuple[str, str]:
    return rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)


class Slots(dict):
    """Slot name -> (kind or None, text); ``kind=None`` is filler that must not be redacted."""


def _identity(rng: random.Random) -> Slots:
    """Everything one note may say about its patient, family, providers and places."""
    s = Slots()
    first, last = _person(rng)
    sex = rng.choice(["M", "F"])
    s["PF"], s["PL"] = ("NAME", first), ("NAME", last)
    s["TITLE"] = (None, "Mr." if sex == "M" else rng.choice(["Ms.", "Mrs."]))
    s["HE"], s["HIS"] = (None, "he" if sex == "M" else "she"), (None, "his" if sex == "M" else "her")
    s["SEXW"] = (None, "man" if sex == "M" else "woman")
    s["PLU"] = ("NAME", last.upper())
    s["PI"] = ("NAME", first[0] + ".")
    age = rng.choice([rng.randint(19, 89), rng.randint(19, 89), rng.randint(90, 103)])
    s["AGE"] = ("AGE" if age > 89 else None, str(age))
    s["DOB"] = ("DATE", _date(rng, 2024 - age))
    for i in range(1, 4):
        s[f"D{i}"] = ("DATE", _date(rng))
        s[f"SD{i}"] = ("DATE", _short_date(rng))
    s["MY"] = ("DATE", f"{rng.choice(MONTHS)} {rng.randint(2010, 2024)}")
    s["YEAR"] = (None, str(rng.randint(1998, 2023)))
    for i in range(1, 4):
        f, la = _person(rng)
        s[f"DF{i}"], s[f"DL{i}"] = ("NAME", f), ("NAME", la)
    kf, kl = _person(rng)
    s["KF"], s["KL"] = ("NAME", kf), ("NAME", kl if rng.random() < 0.5 else last)
    s["REL"] = (None, rng.choice(["daughter", "son", "wife", "husband", "sister", "brother", "niece", "partner"]))
    for i in range(1, 4):
        s[f"PH{i}"] = ("PHONE", _phone(rng))
    s["FAX"] = ("FAX", _phone(rng))
    pe = rng.choice([f"{first}.{last}", f"{first[0]}{last}{rng.randint(1, 99)}", f"{last}.{first[0]}"]).lower()
    pe = re.sub(r"[^a-z0-9.]", "", pe.encode("ascii", "ignore").decode())
    s["EMAIL"] = ("EMAIL", f"{pe}@{rng.choice(DOMAINS)}")
    host = rng.choice(HOSPITALS)
    s["DEMAIL"] = ("EMAIL", f"{s['DL1'][1].lower().replace(' ', '').replace(chr(39), '')}@{host}")
    s["URL"] = ("URL", rng.choice([f"https://portal.{host}/patients/{_digits(rng, 6)}", f"www.{host}/myrecord",
                                   f"http://telehealth.{host}/room/{_alnum(rng, 6).lower()}"]))  # fmt: skip
    s["MRN"] = ("MRN", _mrn(rng))
    s["ACCT"] = ("ACCOUNT", _account(rng))
    s["LIC"] = ("LICENSE", _license(rng))
    s["DEV"] = ("DEVICE", _device(rng))
    s["SSN"] = ("SSN", _ssn(rng))
    s["PLAN"] = ("HEALTHPLAN", _plan(rng))
    s["IP"] = ("IP", _ip(rng))
    city = rng.choice(CITIES)
    unit = rng.choice(["", f", Apt {rng.randint(1, 40)}{rng.choice('ABCD')}", f", Unit {rng.randint(1, 300)}"])
    street = f"{rng.randint(3, 9899)} {rng.choice(STREETS)} {rng.choice(SUFFIXES)}"
    s["ADDR"] = ("ADDRESS", f"{street}{unit}, {city}")
    s["CITY"] = ("ADDRESS", city)
    s["ST"] = (None, rng.choice(STATES))
    s["ZIP"] = ("ZIP", rng.choice([_digits(rng, 5), f"{_digits(rng, 5)}-{_digits(rng, 4)}"]))
    s["FAC"] = (None, rng.choice(FACILITIES))
    s["T1"], s["T2"] = (None, _time(rng)), (None, _time(rng))
    s["C1"], s["C2"], s["C3"] = ((None, c) for c in rng.sample(CONDITIONS, 3))
    s["MEDS"] = (None, "\n".join(f"- {m}" for m in rng.sample(MEDS, rng.randint(3, 6))))
    s["FIND"] = (None, "; ".join(rng.sample(FINDINGS, 2)))
    s["LABS"], s["VITALS"] = (None, _labs(rng)), (None, _vitals(rng))
    s["YOUNG"] = (None, str(rng.randint(20, 89)))
    return s


# Templates: each line is a choice of alternatives separated by " || " where useful; {SLOT} is filled from Slots.
DISCHARGE = """DISCHARGE SUMMARY
Patient: {PF} {PL}    MRN: {MRN}    DOB: {DOB}
Admission date: {D1}    Discharge date: {D2}
Attending: Dr. {DF1} {DL1}    PCP: Dr. {DL2}

HISTORY OF PRESENT ILLNESS
{TITLE} {PL} is a {AGE}-year-old {SEXW} with {C1} (diagnosed in {YEAR}) and {C2} who presented with worsening \
dyspnea. {HE_CAP} was seen by Dr. {DL3} in clinic on {SD1}. Vitals on arrival: {VITALS}.

HOSPITAL COURSE
Labs: {LABS}. {FIND}. Started on diuresis; {HIS} {REL} {KF} was at the bedside and updated daily. {TITLE} {PL} \
tolerated treatment well. No evidence of {C3}.

DISCHARGE MEDICATIONS
{MEDS}

FOLLOW-UP
Follow up with Dr. {DF2} {DL2} on {D3} at {T1}. Call {PH1} with questions; fax records to {FAX}.
Patient portal: {URL}

Electronically signed by {DF1} {DL1}, MD on {D2} {T2}
"""

REFERRAL = """{FAC}
{ADDR}, {ST} {ZIP}
Tel {PH1} | Fax {FAX}

{D1}

Dear Dr. {DL2},

Re: {PLU}, {PF}    DOB {DOB}    MRN {MRN}
Address: {ADDR}, {ST} {ZIP}
Insurance member ID: {PLAN}

Thank you for seeing this {AGE} year old {SEXW} with {C1} and {C2}, on {MEDS_INLINE}. Since {MY} {HE} has \
noted progressive symptoms. Examination: {FIND}. Recent labs: {LABS}. I would value your opinion regarding \
escalation of therapy; {HE} is keen to avoid admission and lives in {CITY} with {HIS} {REL}, {KF} {KL} \
({PH2}).

Yours sincerely,
{DF1} {DL1}, MD
License #: {LIC}
{DEMAIL}
"""

NURSING = """NURSING NOTE {D1} {T1}
Pt: {PL}, {PF}    MRN# {MRN}    Age: {AGE}
{VITALS}. Pain 3/10. Patient alert and oriented x3. {FIND}.
{REL_CAP} {KF} {KL} visited this afternoon, phone {PH2}. Pacemaker interrogated, serial number {DEV}, \
functioning normally. Medications given as charted, including {MED1}. Fall risk precautions continued.
Plan discussed with Dr. {DL1}. Will reassess at {T2}.
{NF} {NL}, RN
"""

PROGRESS = """CLINIC PROGRESS NOTE
Date of service: {D1}
Name: {PF} {PL}   Medical record number: {MRN}   Account #: {ACCT}

S: {AGE} yo {SEXW} with {C1} since {YEAR}, seen for follow-up. Last visit {SD1}. {HE_CAP} reports good adherence. \
{HIS_CAP} {REL} {KF} helps with medications. Denies chest pain. Also followed for {C2}.
O: {VITALS}. {FIND}. Labs from {D2}: {LABS}.
A/P:
1. {C1}: continue current regimen.
{MEDS}
2. {C3} screening: not indicated at this time. Prior episode in {YEAR}.
3. Return in 3 months, around {SD2}. Results will be posted to {URL}.
Contact: {PH1} or {EMAIL}

{DF1} {DL1}, NP
"""

ED_NOTE = """EMERGENCY DEPARTMENT NOTE
Arrival: {D1} {T1}
Patient name: {PLU}, {PF}  Sex: {SEX}  DOB: {DOB}  SSN: {SSN}
Home address: {ADDR}, {ST} {ZIP}   Home phone: {PH1}
Emergency contact: {KF} {KL} ({REL}) {PH2}

CHIEF COMPLAINT: fall at home.
HPI: {AGE}-year-old {SEXW} with {C1} and {C2} brought in by EMS after a mechanical fall. Per {HIS} {REL}, \
{HE} had been well until this morning. Medicare ID {PLAN}. On {MED1}.
EXAM: {VITALS}. {FIND}.
RESULTS: {LABS}. CT head negative.
DISPOSITION: admitted under Dr. {DF1} {DL1}. Discussed with {KF} by phone.
Account number: {ACCT}
"""

TELEHEALTH = """TELEHEALTH VISIT
Visit date: {D1}   Patient: {PI} {PL}   MRN {MRN}
Video link: {URL}   Session connected from IP {IP}
Patient email on file: {EMAIL}

{TITLE} {PL}, a {AGE}-year-old {SEXW}, was seen by video for {C1}. {HE_CAP} was last seen on {D2} by Dr. {DF2} {DL2}. \
Home readings: BP 132/84 at {T1}; glucose 142 mg/dL. Taking {MED1}. Discussed {C2} risk; no signs of {C3}.
Insulin pump device ID: {DEV}. DEA: {LIC}.
Follow-up in 6 weeks. Cosigned: Dr. {DL1}
"""

CONSULT = """CARDIOLOGY CONSULTATION
Requested by: {DF2} {DL2}, MD    Date: {D1}
Patient: {PL}, {PF} ({PLU})    MRN: {MRN}

Reason for consult: new {C1}.
{PF} {PL} is a {AGE} y/o with {C2}; a prior Holter in {YEAR} was unremarkable. {HE_CAP} was admitted on {SD1} \
after syncope at {FAC}. {HIS_CAP} granddaughter {KF} {KL} reports that {HE} has been more confused since {MY}.
Exam: {VITALS}. {FIND}. ECG: rate 72, PR 180 ms, QRS 96 ms, QTc 452 ms.
Labs: {LABS}.
Impression: {C1}; the {C3} is stable. Recommend {MED1}. Implantable loop recorder (serial {DEV}) if recurrent.
We will follow along. Thank you for this consult.
{DF1} {DL1}, MD, cardiology fellow, pager {PH1}
Seen and discussed with attending Dr. {DF3} {DL3}.
"""

PHONE_CALL = """TELEPHONE ENCOUNTER {D1} {T1}
Caller: {KF} {KL}, {REL} of patient {PF} {PL} (DOB {DOB}), callback {PH2}
{KF} states the patient, age {AGE}, has had a fever since {SD1} and is taking {MED1}. Reviewed {C1} history \
and {C2}. Last INR 2.6 on {SD2}. Advised to bring {HIM} to clinic tomorrow at {T2}; appointment booked with \
Dr. {DL2}. {KF} asked that results be emailed to {EMAIL}; mailing address confirmed as {ADDR}, {ST} {ZIP}.
Routed to {DF1} {DL1}, RN. Account {ACCT}.
"""

# Held out: these appear only in the test split, were written before the detector was run on them, and are
# never used for tuning; they measure how far the detector carries beyond the phrasing of the shared templates.
OPERATIVE = """OPERATIVE REPORT
Date of procedure: {D1}
Surgeon: {DF1} {DL1}, MD   Assistant: {DF2} {DL2}, PA-C
Anesthesia: general, by Dr {DL3}
Patient: {PF} {PL}, {AGE} yrs, hospital no. {MRN}

Preoperative diagnosis: {C1}. Postoperative diagnosis: same.
Procedure: laparoscopic cholecystectomy. A Whipple procedure was considered in {YEAR} but not pursued.
Findings: {FIND}. Estimated blood loss 50 mL. Cefazolin 2 g IV given at {T1}.
The patient's {REL}, {KF}, was updated in the waiting room at {T2} and can be reached on {PH1}.
Post-op plan: {MED1}; review in clinic on {SD1}. History of {C2} noted.
Dictated {D2} by {DF1} {DL1}; transcribed {D3}.
"""

SOCIAL_WORK = """SOCIAL WORK ASSESSMENT - {D1}
Met with {PF} {PL} and {HIS} {REL} {KF} {KL} at the bedside. {PF} is a {AGE} year-old retired teacher who \
lives alone at {ADDR}, {ST} {ZIP}. {HE_CAP} was widowed in {YEAR}. Son {DF3} lives in {CITY2} and visits \
monthly; his number is {PH2}, email {EMAIL}.
Home health agency contact: {DF2} {DL2} at {PH3} (fax {FAX}).
Patient has Medicaid, policy # {PLAN}, and receives Meals on Wheels. Known {C1} and {C2}. Discussed advance \
directives; {HE} wishes to remain DNR/DNI, consistent with {HIS} documented wishes from {MY}.
Plan: refer to {FAC}; follow up by {SD1}.
{NF} {NL}, LCSW
"""

RADIOLOGY = """RADIOLOGY REPORT
Exam: CT chest with contrast    Exam date: {ISO}T{T1}
Patient: {PLU}, {PFU}    MRN: {MRN}    DOB: {DOB}
Ordering physician: {DLU1}, {DFU1}    Workstation IP: {IP}
Comparison: CT dated {D2}.
Clinical history: {AGE}{SEX} with {C1}, weight loss.
Findings: No pulmonary embolism. 6 mm nodule in the right upper lobe (series 3, image 45), unchanged since {MY}. \
Mild emphysema. Heart size normal. Pacemaker leads in place (device {DEV}).
Impression: stable 6 mm nodule; Fleischner follow-up CT in 12 months.
Results communicated to Dr. {DL2} by telephone at {T2} on {SD1}, read back confirmed.
Read by: {DF3} {DL3}, MD - {D3}
"""

HELD_OUT = {"operative_report": OPERATIVE, "social_work_note": SOCIAL_WORK, "radiology_report": RADIOLOGY}

TEMPLATES = {
    "consult_note": CONSULT,
    "telephone_encounter": PHONE_CALL,
    "discharge_summary": DISCHARGE,
    "referral_letter": REFERRAL,
    "nursing_note": NURSING,
    "progress_note": PROGRESS,
    "ed_note": ED_NOTE,
    "telehealth_note": TELEHEALTH,
}


def make_note(rng: random.Random, kind: str, note_id: str) -> dict:
    """Render one note of ``kind``; return ``{"id", "type", "text", "spans"}`` with spans in text order."""
    s = _identity(rng)
    s["REL_CAP"] = (None, s["REL"][1].capitalize())
    s["HE_CAP"], s["HIS_CAP"] = (None, s["HE"][1].capitalize()), (None, s["HIS"][1].capitalize())
    s["HIM"] = (None, "him" if s["SEXW"][1] == "man" else "her")
    s["SEX"] = (None, "M" if s["SEXW"][1] == "man" else "F")
    s["MED1"] = (None, rng.choice(MEDS))
    s["MEDS_INLINE"] = (None, "; ".join(rng.sample(MEDS, 2)))
    nf, nl = _person(rng)
    s["NF"], s["NL"] = ("NAME", nf), ("NAME", nl)
    s["PFU"], s["DLU1"], s["DFU1"] = (
        ("NAME", s["PF"][1].upper()),
        ("NAME", s["DL1"][1].upper()),
        ("NAME", s["DF1"][1].upper()),
    )
    s["CITY2"] = ("ADDRESS", rng.choice(CITIES))
    y, m, d = rng.randint(2015, 2025), rng.randint(1, 12), rng.randint(1, 28)
    s["ISO"] = ("DATE", f"{y}-{m:02d}-{d:02d}")
    parts: list[str] = []
    spans: list[dict] = []
    pos = 0
    template = TEMPLATES.get(kind) or HELD_OUT[kind]
    for i, piece in enumerate(re.split(r"\{(\w+)\}", template)):
        if i % 2:
            label, piece = s[piece]
            if label:
                spans.append({"start": pos, "end": pos + len(piece), "kind": label, "text": piece})
        parts.append(piece)
        pos += len(piece)
    text = "".join(parts)
    for sp in spans:
        assert text[sp["start"] : sp["end"]] == sp["text"]
    return {"id": note_id, "type": kind, "held_out": kind in HELD_OUT, "text": text, "spans": spans}


def make_split(seed: int, n: int, prefix: str, held_out: int = 0) -> list[dict]:
    """``n`` notes from the shared templates in turn, then ``held_out`` from the held-out ones."""
    rng = random.Random(seed)
    kinds = [list(TEMPLATES)[i % len(TEMPLATES)] for i in range(n)]
    kinds += [list(HELD_OUT)[i % len(HELD_OUT)] for i in range(held_out)]
    return [make_note(rng, kind, f"{prefix}-{i:03d}") for i, kind in enumerate(kinds)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("-n", type=int, default=64, help="notes per split from the shared templates")
    parser.add_argument("--held-out", type=int, default=18, help="extra test notes from the held-out templates")
    args = parser.parse_args()
    for name, seed, extra in (("dev", 1, 0), ("test", 2, args.held_out)):
        notes = make_split(seed, args.n, name, extra)
        with (args.out / f"notes_{name}.jsonl").open("w", encoding="utf-8") as fh:
            for note in notes:
                fh.write(json.dumps(note, ensure_ascii=False) + "\n")
        print(f"{name}: {len(notes)} notes, {sum(len(x['spans']) for x in notes)} labelled identifiers")


if __name__ == "__main__":
    main()
