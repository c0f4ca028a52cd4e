"""A follow-up question made standalone from the conversation before it, so that retrieval can find its passages.

"How is it treated?" after "What is gout?" searches for nothing about gout; "How is gout treated?" does. The
rewriting is by rule, in English and Chinese, and never calls a model (a rewrite costs microseconds and cannot
invent a subject the conversation did not name):

1. The subject of the previous question (itself made standalone first) is read from its wording: "what are the
   symptoms of X", "what is X", "how is X treated", "X有哪些症状", "什么是X", ... (`subject_of`).
2. A pronoun that stands for it ("it", "its treatment", "this condition"; "它", "其", "这种病") is replaced by it.
3. An elliptical follow-up ("And the symptoms?", "What about its outlook?"; "那怎么治疗？", "那症状呢？") asks the
   previous subject about a new aspect; one that names a new subject instead ("And of Hashimoto's thyroiditis?",
   "那桥本甲状腺炎呢？") asks the previous question about it; one that adds a condition ("And in pregnancy?",
   "那孕妇呢？") asks the previous question under it.
4. A question that needs none of this is returned unchanged.

>>> standalone_question("How is it treated?", ["What is gout?"])
'How is gout treated?'
>>> standalone_question("And of Hashimoto's thyroiditis?", ["What are the symptoms of Graves disease?"])
"What are the symptoms of Hashimoto's thyroiditis?"
>>> standalone_question("那怎么治疗？", ["什么是痛风？"])
'痛风怎么治疗？'
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from kb.core.lexical import is_chinese

#: How many earlier turns a follow-up may reach back through (each resolved in turn).
MAX_TURNS_BACK = 4

# -- English ----------------------------------------------------------------------------------------------------

_CONNECTOR = re.compile(
    r"^(?:and|but|also|so|then|ok(?:ay)?|what about|how about|and what about|and how about|what if|"
    r"and for|and in)\b[,\s]*",
    re.I,
)
_POSSESSIVE = re.compile(r"\b(?:its|their|this (?:condition|disease|disorder)'s)\s+", re.I)
_PRONOUN = re.compile(
    r"\b(?:it|they|them|these|those|"
    r"this(?=\s+(?:is|be|was|get|gets|happen|happens|diagnosed|treated|caused|inherited|prevented|managed|cured|"
    r"serious|common|contagious|dangerous|curable)\b|\s*$)|"
    r"th(?:is|e|at|ese) (?:diseases?|conditions?|disorders?|illness|syndrome|drugs?|medicines?|medications?|"
    r"infections?|cancers?|problems?|tumou?rs?|deficiency))\b",
    re.I,
)
_MODIFIER = re.compile(r"^(?:in|during|with|among|after|before|while|when|at|on|under|over)\b", re.I)
_NEW_SUBJECT = re.compile(r"^(?:of|for|about)\s+", re.I)
_ARTICLE = re.compile(r"^(?:the|a|an)\s+", re.I)
_WHO = r"(?:people|patients|someone|children|adults|women|men|those) (?:with|who have|affected by) "

#: Words that name an aspect of a subject rather than a subject: a follow-up made only of these (and stop words)
#: asks the previous subject about a new aspect.
ASPECTS = frozenset(
    """symptom symptoms sign signs cause causes caused causing treatment treatments treat treated treating therapy
    therapies diagnosis diagnosed diagnose diagnosing test tests testing exam exams examination screening prognosis
    outlook prevention prevent prevented preventing inheritance inherited hereditary genetic genetics gene genes
    mutation mutations change changes risk risks factor factors complication complications side effect effects dose
    dosage doses frequency common rare research trials trial medication medications drug drugs medicine medicines
    option options management manage managed cure cured curable life expectancy survival rate rates type types stage
    stages information outlook long term support care surgery affected many people contagious serious dangerous
    fatal help helps work works best first line""".split()
)
_STOP = frozenset(
    """a an the and or of for to in on at by with about is are was were be been being do does did can could should
    would will may might what which who whom whose how why when where there any some it its this that these those
    they them their i me my we you your please tell more else also other""".split()
)

_ADVERB = r"(?:exactly |really |actually |usually |always |ever |commonly |typically )?"
_ENGLISH_SUBJECT = [
    re.compile(p, re.I)
    for p in (
        rf"^(?:what|which) (?:is|are|'s) {_ADVERB}(?:the |a |an )?(?:[\w-]+ ){{0,4}}?"
        r"(?:of|for|in|with|from) (?P<s>.+)$",
        rf"^(?:what|who) {_ADVERB}(?:is|are|'s) {_ADVERB}(?:a |an |the )?(?P<s>.+)$",
        r"^(?:what|which) (?:[\w-]+ ){0,3}(?:does|do|can|could|might|would) (?P<s>.+?) "
        r"(?:cause|bring|lead to|produce|give)\b",
        r"^(?:can you |could you |please )?(?:explain|tell me|describe|define)(?: to me)?(?: what| about)? "
        r"(?P<s>.+?)(?: is| are| means?)?$",
        r"^how (?:do|does|can|should|would|is|are) (?:doctors |you |i |we |one |people |someone )?"
        r"(?:diagnose|treat|prevent|manage|cure|test for|get|catch|avoid|know if i have|tell if i have) (?P<s>.+)$",
        r"^how (?:is|are|do|does|can|should|would|might) (?P<s>.+?) (?:be |get )?(?:treated|diagnosed|inherited|"
        r"prevented|managed|cured|spread|transmitted|detected|caused|tested|passed down|controlled|affect\w*)\b",
        r"^(?:what|which) (?:causes|cause|treats|treat|prevents|triggers|helps with|helps) (?P<s>.+)$",
        r"^(?:what|which) (?:[\w-]+ ){0,5}(?:diagnose|treat|prevent|detect|manage|cause|check for|screen for|"
        r"point to|suggest|indicate) (?P<s>.+)$",
        rf"^(?:is|are|can|does|do|will) (?P<s>.+?) {_ADVERB}(?:inherited|genetic|hereditary|contagious|curable|"
        r"treatable|preventable|serious|common|dangerous|fatal|cancerous|be (?:cured|treated|prevented|inherited)|"
        r"cause|lead|affect|spread|run|come|go away)\b",
        r"^how (?:common|rare|serious|dangerous) (?:is|are) (?P<s>.+)$",
        r"^who (?:gets|is at risk (?:of|for)|is affected by|should be tested for) (?P<s>.+)$",
        r"^(?:what|which) (?:[\w-]+ ){0,4}(?:of|for|in|with) (?P<s>.+)$",
        r"^(?:the )?(?:[\w-]+ ){1,3}(?:of|for) (?P<s>.+)$",
    )
]


def subject_of(question: str) -> str:
    """The subject a question asks about ("What are the symptoms of Graves disease?" -> "Graves disease"), or ""
    when its wording shows none. In a question of several sentences the last one that names a subject counts
    ("I keep reading about Chagas disease. What is it?" -> "Chagas disease")."""
    if is_chinese(question):
        return _chinese_subject(question)
    sentences = [_bare(p) for p in re.split(r"(?<=[.?!])\s+", question.strip()) if _bare(p)]
    for at, sentence in reversed(list(enumerate(sentences))):
        if at > 0 and _PRONOUN.search(sentence):
            continue  # "What makes them form?" after the sentence that names them
        for pattern in _ENGLISH_SUBJECT:
            if m := pattern.match(sentence):
                subject = m.group("s").split(",")[0].strip()
                subject = re.sub(rf"^{_WHO}", "", _ARTICLE.sub("", subject), flags=re.I)
                subject = re.sub(r"\s+(?:used for|used|good for|like|mean|means)$", "", subject, flags=re.I)
                if subject and not _is_aspect_only(subject) and not _PRONOUN.fullmatch(subject):
                    return subject
        about = re.search(
            r"\b(?:about|of|with|had|has|have|passed|diagnosed with) (?:a |an |the )?(?P<s>[\w' -]+)$", sentence, re.I
        )
        if about and not _is_aspect_only(about.group("s")) and len(sentences) > 1:
            return about.group("s").strip()
    return ""


def standalone_question(question: str, history: Sequence[str]) -> str:
    """``question`` as it reads without the conversation before it (``history``: earlier questions, oldest
    first). A question that needs no earlier turn is returned unchanged."""
    earlier = [h for h in history if h.strip()][-MAX_TURNS_BACK:]
    if not earlier or not question.strip():
        return question
    previous = standalone_question(earlier[-1], earlier[:-1])
    if is_chinese(question):
        return _chinese(question.strip(), previous)
    return _english(question.strip(), previous)


def _english(question: str, previous: str) -> str:
    body = _bare(question)
    connector = _CONNECTOR.match(body)
    rest = body[connector.end() :].strip() if connector else body
    pronoun = _PRONOUN.search(rest)
    possessive = _POSSESSIVE.search(rest)
    if not connector and not pronoun and not possessive and not _is_aspect_only(rest):
        return question  # names its own subject
    subject = subject_of(previous)
    if not rest:
        return previous
    if (pronoun or possessive) and subject:
        return _capital(_replace_pronoun(rest, subject)) + "?"
    if pronoun or possessive or not subject:
        return f"{_capital(rest)}? ({_bare(previous)})"  # no subject to put in: the previous turn as context
    if _MODIFIER.match(rest) and not _is_aspect_only(rest):
        return _bare(previous) + " " + rest + "?"
    if _is_aspect_only(rest):
        return _capital(f"{_ARTICLE.sub('', rest)} of {subject}") + "?"
    new_subject = _ARTICLE.sub("", _NEW_SUBJECT.sub("", rest))
    if subject in previous:
        return previous.replace(subject, new_subject, 1)
    return f"{_bare(previous)} ({new_subject})?"


def _replace_pronoun(text: str, subject: str) -> str:
    """The first pronoun replaced by ``subject`` and possessives by "the" ("If someone has it, what is their
    chance" -> "If someone has X, what is the chance"); with only a possessive, the subject goes after the noun
    phrase it introduced ("What are its symptoms" -> "What are the symptoms of X")."""
    if _PRONOUN.search(text):
        return _POSSESSIVE.sub("the ", _PRONOUN.sub(subject, text, count=1))
    replaced = _POSSESSIVE.sub("the ", text, count=1)
    m = re.search(r"\bthe ((?:[\w-]+ ){0,2}?[\w-]+)(?=\s+(?:is|are|be|made|done|like|in|for|with|after)\b|$)", replaced)
    if m:
        return replaced[: m.end()] + f" of {subject}" + replaced[m.end() :]
    return replaced + f" of {subject}"


def _is_aspect_only(text: str) -> bool:
    words = [w.lower() for w in re.findall(r"[\w'-]+", text)]
    content = [w for w in words if w not in _STOP]
    return bool(words) and all(w in ASPECTS for w in content)


def _bare(text: str) -> str:
    return text.strip().rstrip("?!.。？！ ").strip()


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


# -- Chinese ----------------------------------------------------------------------------------------------------

_ZH_CONNECTOR = re.compile(r"^(?:那么|那|还有|另外|而|至于|对于|如果是|如果|那如果|那要是|要是)[，,\s]*")
_ZH_TAIL = re.compile(r"(?:呢|啊|呀)?[？?！!。.\s]*$")
_ZH_PRONOUN = re.compile(r"它们|它|其|这种病|该病|这个病|此病|这病|这种疾病|该疾病|这种药|该药|这个药|此药|这种情况")
_ZH_PREFIX = re.compile(r"^(?:请问|请介绍一下|介绍一下|我想知道|想问一下|问一下|什么是|什么叫|何为)")
_ZH_MARKER = re.compile(
    r"的|是什么|有哪些|有什么|怎么|如何|怎样|会不会|会|能不能|能否|能|可以|是否|吗|为什么|是由|由什么|需要|要|应该|该|"
    r"是|有|常见|主要|一般|通常|多久|多少|严重|早期|晚期|初期|刚开始|开始|最初|患者|病人"
)
_ZH_ASPECT = re.compile(
    r"^(?:症状|表现|病因|原因|治疗|治疗方法|疗法|诊断|检查|检测|遗传|预防|预后|前景|并发症|副作用|风险|危险因素|"
    r"用药|药物|吃什么药|发病率|怎么治|怎么治疗|如何治疗|怎么诊断|如何诊断|怎么预防|如何预防|会遗传吗|遗传吗|"
    r"能治愈吗|严重吗|常见吗|是什么引起的|怎么引起的|由什么引起|有哪些症状|有什么症状)"
)
_ZH_MODIFIER = re.compile(
    r"^(?:孕妇|孕期|怀孕|妊娠|哺乳期?|儿童|小孩|孩子|婴儿|新生儿|老人|老年人|男性|女性|成人|青少年)"
)
_ZH_VERB_START = re.compile(r"^(?:怎么|如何|怎样|会|能|是|有|需要|要|可以|为什么|吗|该|应该|多久|常见|严重|平时|一般)")
_ZH_QUESTION_WORD = re.compile(r"怎么|如何|怎样|什么|哪些|哪种|吗|多久|多少|能否|是否|会不会|能不能|为什么|几")


def _chinese_subject(question: str) -> str:
    body = _ZH_TAIL.sub("", question.strip())
    body = _ZH_PREFIX.sub("", body)
    m = _ZH_MARKER.search(body)
    subject = body[: m.start()] if m and m.start() > 0 else body
    return subject.strip("，, ")


def _chinese(question: str, previous: str) -> str:
    body = _ZH_TAIL.sub("", question)
    connector = _ZH_CONNECTOR.match(body)
    rest = body[connector.end() :] if connector else body
    elliptical = bool(connector) or question.rstrip("？?").endswith("呢") or bool(_ZH_VERB_START.match(rest))
    pronoun = _ZH_PRONOUN.search(rest)
    if not elliptical and not pronoun:
        return question
    subject = _chinese_subject(previous)
    context = _ZH_TAIL.sub("", previous)
    if not rest:
        return previous
    if not subject:
        return rest + "（" + context + "）？"
    if pronoun:
        return _ZH_PRONOUN.sub(subject, rest, count=1) + "？"
    if _ZH_VERB_START.match(rest):
        return subject + rest + "？"
    if _ZH_ASPECT.match(rest):
        return subject + "的" + rest + "？"
    if _ZH_MODIFIER.match(rest):
        return rest + context + "？"
    if _ZH_QUESTION_WORD.search(rest):  # a whole question about the same subject: "那医生是怎么诊断的？"
        return subject + "，" + rest + "？"
    if subject in previous:  # another subject, the same question: "那桥本病呢？"
        return previous.replace(subject, rest, 1)
    return rest + "（" + context + "）？"
