"""Word tables for `generation.subject`: what is not a subject, spellings to unify, and Chinese medical terms.

Kept apart from the logic that reads them. The Chinese terms are common disease, measurement and drug names with
the English words that titles, MeSH headings and DailyMed labels use for them (drug names also come from
`generation.safety.CHINESE_NAMES`).
"""

from __future__ import annotations

#: Words that never name a subject: question and task wording, document-title boilerplate, label formulations and
#: MeSH check tags.
GENERIC = frozenset(
    """
    a about above after against all also am an and any are as at be been before being below between both but by can
    could did do does doing during each few for from further had has have having he her here hers him his how i if in
    into is it its itself just me more most my no nor not now of off on once only or other our out over own same she
    should so some such than that the their them then there these they this those through to too under until up very
    was we were what when where which while who whom why will with would you your yours get got give given take taking
    taken use used using tell need know want mean means way ways much many one two
    disease diseases disorder disorders syndrome syndromes condition conditions information overview guide facts fact
    question questions answer answers learn understanding living life people person patient patients someone
    doctor doctors cause causes caused causing risk risks factor factors sign signs symptom symptoms diagnosis
    diagnose diagnosed diagnosing diagnostic criteria criterion test tests testing exam exams screening screen
    treatment treatments
    treat treated treating therapy therapies manage managed managing management first line first-line second option
    options prevent prevention outlook prognosis research stage stages complication complications support care
    medicine medicines medication medications drug drugs dose doses dosage dosing safe safety side effect effects
    work works common usual usually best find found show shows check confirm confirms start starting begin long often
    kind kinds type types what's i'm can't don't isn't it's there's
    infection infections problem problems health healthy normal new other others am step steps lower getting go goes
    away help helps keep
    tablet tablets capsule capsules film coated usp oral solution suspension injection injectable spray nasal topical
    extended delayed release chewable hydrochloride hcl citrate sodium potassium calcium trihydrate mesylate
    maleate sulfate phosphate acetate label labeling prescribing highlights full product
    humans human male female adult adults aged middle animals retrospective prospective studies study cohort
    follow-up outcome outcomes time factors
    """.split()
)

#: Words after which a single letter or digit belongs to the name: "type 2", "hepatitis a", "stage 3".
QUALIFIED = frozenset("type hepatitis stage grade class vitamin factor phase hhv hiv".split())

#: British spellings and synonyms written as the words titles use.
SPELLINGS: dict[str, str] = {
    "anaemia": "anemia",
    "anaemias": "anemia",
    "anaemic": "anemia",
    "haemolytic": "hemolytic",
    "haemophilia": "hemophilia",
    "haemorrhage": "hemorrhage",
    "oesophagus": "esophagus",
    "oedema": "edema",
    "paediatric": "pediatric",
    "tumour": "tumor",
    "tumours": "tumor",
    "diarrhoea": "diarrhea",
    "leukaemia": "leukemia",
    "oestrogen": "estrogen",
    "foetal": "fetal",
    "haemoglobin": "hemoglobin",
    "paracetamol": "acetaminophen",
    "kidneys": "kidney",
    "renal": "kidney",
    "hepatic": "liver",
    "pulmonary": "lung",
    "cardiac": "heart",
    "legionnaires'": "legionnaires",
    "diabetic": "diabetes",
    "anemic": "anemia",
    "strep": "streptococcal",
    "streptococcus": "streptococcal",
}

#: Phrases rewritten before words are split, so that a synonym meets the words a title uses.
PHRASES: dict[str, str] = {
    "hypertension": "high blood pressure",
    "hypertensive": "high blood pressure",
    "hypotension": "low blood pressure",
    "hyperlipidemia": "high cholesterol",
    "hypercholesterolemia": "high cholesterol",
    "heart attack": "myocardial infarction heart attack",
    "myocardial infarction": "myocardial infarction heart attack",
    "type ii": "type 2",
    "type i ": "type 1 ",
    "t2dm": "type 2 diabetes",
    "t1dm": "type 1 diabetes",
}

#: Chinese medical terms and the English words for them (longest match wins).
CHINESE_TERMS: dict[str, str] = {
    "高血压": "high blood pressure",
    "低血压": "low blood pressure",
    "血压": "blood pressure",
    "妊娠期高血压": "high blood pressure pregnancy",
    "子痫前期": "preeclampsia",
    "先兆子痫": "preeclampsia",
    "糖尿病": "diabetes",
    "1型糖尿病": "type 1 diabetes",
    "一型糖尿病": "type 1 diabetes",
    "2型糖尿病": "type 2 diabetes",
    "二型糖尿病": "type 2 diabetes",
    "妊娠糖尿病": "gestational diabetes",
    "妊娠期糖尿病": "gestational diabetes",
    "糖尿病前期": "prediabetes",
    "糖化血红蛋白": "a1c",
    "胰岛素抵抗": "insulin resistance",
    "贫血": "anemia",
    "缺铁性贫血": "iron-deficiency anemia",
    "恶性贫血": "pernicious anemia",
    "再生障碍性贫血": "aplastic anemia",
    "溶血性贫血": "hemolytic anemia",
    "镰状细胞贫血": "sickle cell anemia",
    "镰状细胞病": "sickle cell",
    "镰刀型细胞贫血": "sickle cell anemia",
    "地中海贫血": "thalassemia",
    "肝炎": "hepatitis",
    "甲型肝炎": "hepatitis a",
    "甲肝": "hepatitis a",
    "乙型肝炎": "hepatitis b",
    "乙肝": "hepatitis b",
    "丙型肝炎": "hepatitis c",
    "丙肝": "hepatitis c",
    "肝硬化": "cirrhosis",
    "肝": "liver",
    "肺炎": "pneumonia",
    "军团病": "legionnaires",
    "军团菌": "legionnaires",
    "肺孢子菌": "pneumocystis",
    "肺炎球菌": "pneumococcal",
    "过敏性肺炎": "hypersensitivity pneumonitis",
    "哮喘": "asthma",
    "慢阻肺": "copd",
    "慢性阻塞性肺疾病": "copd",
    "心力衰竭": "heart failure",
    "心衰": "heart failure",
    "心房颤动": "atrial fibrillation",
    "房颤": "atrial fibrillation",
    "心绞痛": "angina",
    "心肌梗死": "myocardial infarction heart attack",
    "心脏病": "heart",
    "中风": "stroke",
    "脑卒中": "stroke",
    "肾病": "kidney",
    "肾脏": "kidney",
    "肾功能": "kidney",
    "肾": "kidney",
    "胆固醇": "cholesterol",
    "高胆固醇": "high cholesterol",
    "血脂": "cholesterol",
    "痛风": "gout",
    "偏头痛": "migraine",
    "抑郁症": "depression",
    "甲状腺功能减退": "hypothyroidism",
    "甲减": "hypothyroidism",
    "链球菌性咽炎": "strep throat",
    "链球菌咽喉炎": "strep throat",
    "咽喉炎": "throat",
    "流感": "influenza flu",
    "尿路感染": "urinary tract infection",
    "败血症": "sepsis",
    "脓毒症": "sepsis",
    "癌症": "cancer",
    "乳腺癌": "breast cancer",
    "肺癌": "lung cancer",
    "白血病": "leukemia",
    "新冠": "covid-19",
    "新型冠状病毒": "covid-19",
    "怀孕": "pregnancy",
    "孕妇": "pregnancy",
    "妊娠": "pregnancy",
    "儿童": "children",
    "老年人": "older adults",
    "二甲双胍": "metformin",
    "布洛芬": "ibuprofen",
    "阿托伐他汀": "atorvastatin",
    "立普妥": "lipitor atorvastatin",
    "卡维地洛": "carvedilol",
    "阿哌沙班": "apixaban",
    "艾乐妥": "eliquis apixaban",
    "苯海拉明": "diphenhydramine",
    "纳洛酮": "naloxone",
    "瑞德西韦": "remdesivir",
    "西地那非": "sildenafil",
    "伟哥": "viagra sildenafil",
    "万艾可": "viagra sildenafil",
    "阿达木单抗": "adalimumab",
    "修美乐": "humira adalimumab",
    "氟哌啶醇": "haloperidol",
    "米诺地尔": "minoxidil",
    "泊利噻嗪": "polythiazide",
    "华法林": "warfarin",
    "阿司匹林": "aspirin",
    "胰岛素": "insulin",
    "对乙酰氨基酚": "acetaminophen",
    "扑热息痛": "acetaminophen",
    "奈玛特韦": "nirmatrelvir",
    "帕罗韦德": "paxlovid nirmatrelvir",
    "司美格鲁肽": "semaglutide",
    "辛伐他汀": "simvastatin",
    "氯吡格雷": "clopidogrel",
    "奥美拉唑": "omeprazole",
    "左甲状腺素": "levothyroxine",
    "赖诺普利": "lisinopril",
    "甲氨蝶呤": "methotrexate",
    "维生素b12": "vitamin b12",
    "维生素B12": "vitamin b12",
    "铁剂": "iron",
    "达格列净": "dapagliflozin",
    "恩格列净": "empagliflozin",
    "卡格列净": "canagliflozin",
    "西格列汀": "sitagliptin",
    "利拉鲁肽": "liraglutide",
    "度拉糖肽": "dulaglutide",
    "替尔泊肽": "tirzepatide",
    "格列美脲": "glimepiride",
    "格列齐特": "gliclazide",
    "利伐沙班": "rivaroxaban",
    "达比加群": "dabigatran",
    "依度沙班": "edoxaban",
    "瑞舒伐他汀": "rosuvastatin",
    "普伐他汀": "pravastatin",
    "氨氯地平": "amlodipine",
    "硝苯地平": "nifedipine",
    "缬沙坦": "valsartan",
    "氯沙坦": "losartan",
    "厄贝沙坦": "irbesartan",
    "依那普利": "enalapril",
    "美托洛尔": "metoprolol",
    "比索洛尔": "bisoprolol",
    "普萘洛尔": "propranolol",
    "氢氯噻嗪": "hydrochlorothiazide",
    "呋塞米": "furosemide",
    "螺内酯": "spironolactone",
    "地高辛": "digoxin",
    "胺碘酮": "amiodarone",
    "硝酸甘油": "nitroglycerin",
    "莫诺拉韦": "molnupiravir",
    "奥司他韦": "oseltamivir",
    "阿昔洛韦": "acyclovir",
    "恩替卡韦": "entecavir",
    "替诺福韦": "tenofovir",
    "索磷布韦": "sofosbuvir",
    "泼尼松": "prednisone",
    "地塞米松": "dexamethasone",
    "塞来昔布": "celecoxib",
    "双氯芬酸": "diclofenac",
    "萘普生": "naproxen",
    "吗啡": "morphine",
    "曲马多": "tramadol",
    "舍曲林": "sertraline",
    "氟西汀": "fluoxetine",
    "阿普唑仑": "alprazolam",
    "地西泮": "diazepam",
    "奥氮平": "olanzapine",
    "利培酮": "risperidone",
    "巴瑞替尼": "baricitinib",
    "托法替布": "tofacitinib",
    "英夫利昔单抗": "infliximab",
    "阿仑膦酸钠": "alendronate",
    "别嘌醇": "allopurinol",
    "秋水仙碱": "colchicine",
    "沙丁胺醇": "albuterol",
    "孟鲁司特": "montelukast",
    "氯雷他定": "loratadine",
    "西替利嗪": "cetirizine",
    "雷尼替丁": "ranitidine",
    "泮托拉唑": "pantoprazole",
}
