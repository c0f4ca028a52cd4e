"""What a question asks for (its task) and the language to answer it in.

Tasks, in English and Chinese:

- ``diagnosis``: symptoms, history or findings -> a differential, with the evidence for and against each;
- ``treatment``: a condition (and a patient) -> the options, the first-line choice and cautions;
- ``drug``: one drug's indication, dosing, contraindications, interactions, side effects or allergy;
- ``general``: anything else.

Each task scores the cues its question wording carries (a cue that names the task, such as "differential
diagnosis" or 禁忌, weighs more than one that only hints at it, such as a symptom or the name of a drug); the best
score wins, ties going to the more specific task (drug, then treatment, then diagnosis), and a question whose best
score stays below ``MIN_SCORE`` is ``general``.

>>> classify_task("Can I give amoxicillin for community-acquired pneumonia?"), classify_task("高血压怎么治疗？")
('drug', 'treatment')
"""

from __future__ import annotations

import re

from kb.core.lexical import is_chinese
from kb.core.types import Language, Task

#: The score a task needs before a question counts as that task rather than ``general``.
MIN_SCORE = 1.0

_STRONG, _WEAK, _HINT = 2.0, 1.0, 0.5

# Common drug-name endings (INN stems) and names, so that a question that names a drug leans to ``drug``.
_DRUG_NAME = re.compile(
    r"\b\w{2,}(?:cillin|mycin|micin|floxacin|cycline|penem|azole|prazole|pril|sartan|olol|dipine|statin|formin"
    r"|gliptin|gliflozin|glutide|parin|xaban|gatran|profen|fenac|oxicam|oxetine|aline|triptan|tidine|mab|nib|vir"
    r"|pam|lam|semide|thiazide|sone|olone)\b"
    r"|\b(?:cef\w+|warfarin|aspirin|paracetamol|acetaminophen|insulin|metformin|levothyroxine|digoxin|lithium"
    r"|methotrexate|trimethoprim|clopidogrel|apixaban|rivaroxaban|amiodarone|allopurinol|colchicine|morphine"
    r"|tramadol|prednisolone|prednisone|salbutamol|albuterol|nitroglycerin|sildenafil|ssris?|nsaids?|statins?"
    r"|antibiotics?|penicillins?|cephalosporins?|anticoagulants?)\b"
    r"|西林|头孢|霉素|沙星|拉唑|普利|沙坦|洛尔|地平|他汀|双胍|格列|胰岛素|华法林|阿司匹林|布洛芬|对乙酰氨基酚"
    r"|甲氨蝶呤|氯吡格雷|左甲状腺素|青霉素|抗生素|激素",
    re.I,
)

_CUES: dict[Task, list[tuple[float, re.Pattern[str]]]] = {
    "drug": [
        (
            _STRONG,
            re.compile(
                r"\b(doses?|dosing|dosage|dosed|indications?|contraindicat\w*|interact\w*|side[- ]effects?|"
                r"adverse (effects?|reactions?)|overdose|half-life|mechanism of action|maximum daily|mg/kg|black box|"
                r"boxed warning)\b"
                r"|\b(can|could|may|should) (i|we|you|she|he) (give|use|prescribe|take|combine)\b|\bis it safe\b"
                r"|剂量|用量|适应证|适应症|禁忌|相互作用|副作用|不良反应|说明书|半衰期|作用机制|过量|一起吃|一起用|同服|合用"
                r"|能用|可以用|能否使用|能否服用|可以服用|能不能用|能吃|可以吃|能不能吃",
                re.I,
            ),
        ),
        (
            _WEAK,
            re.compile(
                r"\b(allerg\w*|safe|safety|take|taking|given with|give|prescrib\w*|mg|tablets?|pregnan\w*|"
                r"used (for|in|to)|breast-?feeding|how does .+ work|monitor\w*|switch\w*|stop\w*)\b"
                r"|过敏|服用|用于|孕妇|哺乳|怎么吃|吃多少|停药|监测",
                re.I,
            ),
        ),
        (_HINT, _DRUG_NAME),
    ],
    "treatment": [
        (
            _STRONG,
            re.compile(
                r"\b(treat\w*|therap\w*|manag\w*|first[- ]line|second[- ]line|regimens?|options?|cure[sd]?|surgery|"
                r"which (antibiotic|drug|medication|medicine|agent)s?|what (antibiotic|drug|medication|medicine)s?"
                r" (should|is|are|to))\b"
                r"|治疗|疗法|首选|方案|怎么处理|如何处理|处理原则|吃什么药|用什么药|用什么抗生素|怎么办",
                re.I,
            ),
        ),
        (
            _WEAK,
            re.compile(
                r"\b(prevent\w*|recommend\w*|start\w*|initiat\w*|control|lower\w*|reduc\w*|rehabilitat\w*)\b"
                r"|预防|控制|降压|降糖|推荐|开始",
                re.I,
            ),
        ),
    ],
    "diagnosis": [
        (
            _STRONG,
            re.compile(
                r"\b(diagnos\w*|differential|work-?up|criteria|what could (cause|this be|it be)|likely cause|"
                r"could (this|it) be|rule out|screen\w*)\b"
                r"|诊断|鉴别|什么病|可能是|怎样判断|如何判断|筛查|确诊|排除",
                re.I,
            ),
        ),
        (
            _WEAK,
            re.compile(
                r"\b(symptoms?|signs?|present\w*|findings?|tests?|confirm\w*|detect\w*|recogni[sz]\w*|score|"
                r"investigat\w*|imaging|x-ray|ecg|biopsy|lab(oratory)? results?|fever|cough|pain|rash|headache|"
                r"shortness of breath|dyspn\w*|fatigue|weight loss|swelling|palpitations?)\b"
                r"|症状|表现|检查|化验|量表|评分|发热|发烧|咳嗽|胸痛|头痛|腹痛|皮疹|乏力|气短|气促|水肿|心悸",
                re.I,
            ),
        ),
    ],
}

#: Ties go to the more specific task: a dose question mentions a condition, a treatment question a patient.
_PRIORITY: tuple[Task, ...] = ("drug", "treatment", "diagnosis")


def classify_task(question: str) -> Task:
    """The task ``question`` asks for, by its wording (English or Chinese); ``general`` when no task is clear."""
    scores = {task: task_score(question, task) for task in _PRIORITY}
    best = max(_PRIORITY, key=lambda task: scores[task])  # max keeps the first of equal scores
    return best if scores[best] >= MIN_SCORE else "general"


def task_score(question: str, task: Task) -> float:
    """How strongly ``question`` asks for ``task``: the sum of the weights of the cue kinds it carries."""
    return sum(weight for weight, pattern in _CUES.get(task, []) if pattern.search(question))


def question_language(question: str) -> Language:
    """``zh`` for a mostly Chinese question (see `kb.core.lexical.is_chinese`), else ``en``."""
    return "zh" if is_chinese(question) else "en"


# "How many days ...", "What dose ...", "多少毫克": the answer is a number, and one without a number does not answer.
_ASKS_FOR_NUMBER = re.compile(
    r"\bhow (?:many|much|long|often)\b|\bwhat (?:\w+ )?(?:dose|dosage|percentage|percent|level|threshold|half-life)\b"
    r"|\bat what (?:\w+ )?(?:level|dose|age|value)\b|\b(?:mg/kg|milligrams?|micrograms?|mcg|iu/ml)\b"
    r"|多少|几(?:次|天|粒|片|周|个月|毫克)|百分之几|多久|多长时间",
    re.I,
)
_NUMBER = re.compile(r"\d|[一二两三四五六七八九十百千万]\s*(?:次|天|粒|片|周|毫克|克|小时|岁|%)")


def asks_for_number(question: str) -> bool:
    """Whether ``question`` asks for a quantity (a dose, a count, a duration, a percentage, a level)."""
    return bool(_ASKS_FOR_NUMBER.search(question))


def states_number(text: str) -> bool:
    """Whether ``text`` states a quantity, in digits or in Chinese numerals before a unit."""
    return bool(_NUMBER.search(text))
