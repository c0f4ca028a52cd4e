"""The wording of drug warnings, in English and Chinese: a Chinese question gets its warnings in Chinese.

`generation.safety` decides what to warn about; this module only says it. Templates use ``str.format`` fields
named after what they hold; English ones quote the patient's words with ``!r``, Chinese ones with “”.

>>> message("allergy_class", "zh", drug="阿莫西林", drug_class=class_name("penicillins", "zh"), item="青霉素")
'阿莫西林属于青霉素类，患者有此类药物过敏记录（“青霉素”）'
"""

from __future__ import annotations

from kb.core.types import Language

_TEMPLATES: dict[str, dict[Language, str]] = {
    "allergy_same": {
        "en": "{drug} is the recorded allergen {item!r}",
        "zh": "{drug}即患者记录的过敏原（“{item}”）",
    },
    "allergy_class": {
        "en": "{drug} is one of the {drug_class}, recorded as an allergy ({item!r})",
        "zh": "{drug}属于{drug_class}，患者有此类药物过敏记录（“{item}”）",
    },
    "allergy_shared": {
        "en": "{drug} and the recorded allergen {item!r} are both {drug_class}",
        "zh": "{drug}与患者记录的过敏原“{item}”同属{drug_class}",
    },
    "allergy_cross": {
        "en": "{drug} ({drug_class}) and the recorded allergen {item!r} ({other_class}): {note}",
        "zh": "{drug}（{drug_class}）与患者记录的过敏原“{item}”（{other_class}）：{note}",
    },
    "label_hypersensitivity": {
        "en": "the {title} label names {words!r} in a hypersensitivity statement",
        "zh": "{title}说明书的过敏反应说明中提到“{words}”",
    },
    "see_label": {
        "en": "{rule}; see the {section} section of the {title} label.",
        "zh": "{rule}；见{title}说明书“{section}”部分。",
    },
    "table_rule": {"en": "{rule}.", "zh": "{rule}。"},
    "is_one": {"en": " ({drug} is one)", "zh": "（{drug}属于此类）"},
    "label_mentions": {
        "en": "The {section} section of the {title} label mentions {words!r}{is_one}; the patient takes {item!r}.",
        "zh": "{title}说明书“{section}”部分提到“{words}”{is_one}；患者正在使用“{item}”。",
    },
    "patient_label": {
        "en": "The {section} section of the {title} label speaks to {field}; read it before use.",
        "zh": "{title}说明书“{section}”部分涉及{field}；用药前请阅读。",
    },
    "table_interaction": {
        "en": "{drug} ({drug_class}) with the patient's {item!r} ({other_class}): {note}.",
        "zh": "{drug}（{drug_class}）与患者正在使用的“{item}”（{other_class}）：{note}。",
    },
    "no_label": {
        "en": "Not checked: no label for {drug} in the knowledge base, so {field} could not be checked.",
        "zh": "未核查：知识库中没有{drug}的说明书，无法核查{field}。",
    },
    "no_section": {
        "en": "Not checked: the {title} label has no section that speaks to {field}.",
        "zh": "未核查：{title}说明书中没有涉及{field}的部分。",
    },
    "table_only": {
        "en": "Not checked against a {drug} label (none in the knowledge base): the patient's {field} were checked only"
        " against medkb's drug-class table and the labels of the other drugs.",
        "zh": "未与{drug}说明书核对（知识库中没有）：患者的{field}仅与medkb药物类别表及其他药物的说明书核对。",
    },
    "field_pregnancy": {"en": "pregnancy", "zh": "妊娠"},
    "field_lactation": {"en": "breastfeeding", "zh": "哺乳"},
    "field_older": {"en": "use in older patients", "zh": "老年患者用药"},
    "field_younger": {"en": "use in children", "zh": "儿童用药"},
    "field_allergies": {"en": "allergies", "zh": "过敏史"},
    "field_medications": {"en": "medications", "zh": "合并用药"},
    "medication_label_mentions": {
        "en": "The {section} section of the {title} label (the patient's medication {item!r}) mentions"
        " {words!r}{is_one}.",
        "zh": "患者正在使用的“{item}”的{title}说明书“{section}”部分提到“{words}”{is_one}。",
    },
}

_CLASSES_ZH = {
    "penicillins": "青霉素类",
    "cephalosporins": "头孢菌素类",
    "carbapenems": "碳青霉烯类",
    "sulfonamide antibiotics": "磺胺类抗菌药",
    "NSAIDs": "非甾体抗炎药",
    "anticoagulants": "抗凝药",
    "nitrates": "硝酸酯类",
    "statins": "他汀类",
    "fibrates": "贝特类",
    "monoamine oxidase inhibitors": "单胺氧化酶抑制剂",
    "alpha-blockers": "α受体阻滞剂",
    "HIV protease inhibitors": "HIV蛋白酶抑制剂",
    "strong CYP3A4 inhibitors": "强效CYP3A4抑制剂",
    "TNF blockers": "TNF抑制剂",
    "PDE5 inhibitors": "PDE5抑制剂",
}

_SECTIONS_ZH = {
    "Boxed Warning": "黑框警告",
    "Contraindications": "禁忌",
    "Drug Interactions": "药物相互作用",
    "Warnings and Precautions": "警告和注意事项",
    "Warnings": "警告",
    "Precautions": "注意事项",
    "Use in Specific Populations": "特殊人群用药",
    "Pregnancy": "妊娠",
    "Lactation": "哺乳",
    "Pediatric Use": "儿童用药",
    "Geriatric Use": "老年用药",
    "Renal Impairment": "肾功能损害",
    "Hepatic Impairment": "肝功能损害",
}

#: Chinese versions of `generation.safety.CROSS_REACTIVE`'s notes, keyed by the pair of classes.
_CROSS_NOTES_ZH = {
    frozenset(("penicillins", "cephalosporins")): (
        "交叉过敏并不常见（约1%-2%，主要因侧链相似，如阿莫西林与头孢氨苄或头孢羟氨苄），但头孢菌素说明书提示与青霉素存在交叉过敏"
    ),
    frozenset(("penicillins", "carbapenems")): "交叉过敏罕见（低于1%），碳青霉烯类说明书对此有警示",
    frozenset(("cephalosporins", "carbapenems")): "交叉过敏罕见（低于1%），二者均为β-内酰胺类",
}


def message(key: str, language: Language, **fields: str) -> str:
    """The template ``key`` in ``language`` (English for any language without one), filled with ``fields``."""
    templates = _TEMPLATES[key]
    return templates.get(language, templates["en"]).format(**fields)


def class_name(name: str, language: Language) -> str:
    """A class of the drug-class table as a reader of ``language`` calls it."""
    return _CLASSES_ZH.get(name, name) if language == "zh" else name


def section_name(name: str, language: Language) -> str:
    """A label section's name in ``language``."""
    return _SECTIONS_ZH.get(name, name) if language == "zh" else name


def cross_note(a: str, b: str, english: str, language: Language) -> str:
    """The cross-reactivity note of classes ``a`` and ``b`` in ``language`` (``english`` is the English one)."""
    return _CROSS_NOTES_ZH.get(frozenset((a, b)), english) if language == "zh" else english
