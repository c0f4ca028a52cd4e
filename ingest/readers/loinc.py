"""LOINC codes of the sections of an FDA Structured Product Label (SPL), with readable names.

Source: the LOINC document section codes that FDA SPL uses for label sections (the "Section Headings (LOINC)"
list of the FDA SPL standard / DailyMed, as mirrored by openFDA's ``sections.csv``). Names follow the headings
printed on labels ("Indications and Usage") rather than LOINC's long names ("INDICATIONS & USAGE SECTION").
Document-type codes (34391-3 Human Prescription Drug Label, ...) are not sections and are not listed.
"""

from __future__ import annotations

#: A section code with no meaning of its own: the section's own title says more.
UNCLASSIFIED = "42229-5"

SECTION_NAMES: dict[str, str] = {
    # Prescription drug labels (21 CFR 201.56/201.57), in label order
    "34066-1": "Boxed Warning",
    "43683-2": "Recent Major Changes",
    "34067-9": "Indications and Usage",
    "34068-7": "Dosage and Administration",
    "43678-2": "Dosage Forms and Strengths",
    "34070-3": "Contraindications",
    "43685-7": "Warnings and Precautions",
    "34071-1": "Warnings",
    "42232-9": "Precautions",
    "34072-9": "General Precautions",
    "34076-0": "Patient Counseling Information",
    "34075-2": "Laboratory Tests",
    "34073-7": "Drug Interactions",
    "34074-5": "Drug and Laboratory Test Interactions",
    "34083-6": "Carcinogenesis, Mutagenesis, Impairment of Fertility",
    "34084-4": "Adverse Reactions",
    "43684-0": "Use in Specific Populations",
    "42228-7": "Pregnancy",
    "34077-8": "Teratogenic Effects",
    "34078-6": "Nonteratogenic Effects",
    "34079-4": "Labor and Delivery",
    "34080-2": "Nursing Mothers",
    "77290-5": "Lactation",
    "77291-3": "Females and Males of Reproductive Potential",
    "34081-0": "Pediatric Use",
    "34082-8": "Geriatric Use",
    "42227-9": "Drug Abuse and Dependence",
    "34085-1": "Controlled Substance",
    "34086-9": "Abuse",
    "34087-7": "Dependence",
    "34088-5": "Overdosage",
    "34089-3": "Description",
    "34090-1": "Clinical Pharmacology",
    "43679-0": "Mechanism of Action",
    "43681-6": "Pharmacodynamics",
    "43682-4": "Pharmacokinetics",
    "66106-6": "Pharmacogenomics",
    "49489-8": "Microbiology",
    "43680-8": "Nonclinical Toxicology",
    "34091-9": "Animal Pharmacology and/or Toxicology",
    "34092-7": "Clinical Studies",
    "34093-5": "References",
    "34069-5": "How Supplied",
    "44425-7": "Storage and Handling",
    "42231-1": "Medication Guide",
    "42230-3": "Patient Package Insert",
    "68498-5": "Patient Medication Information",
    "59845-8": "Instructions for Use",
    "71744-7": "Health Care Provider Letter",
    "60561-8": "Other Safety Information",
    # OTC "Drug Facts" labels (21 CFR 201.66)
    "55106-9": "Active Ingredient",
    "55105-1": "Purpose",
    "50570-1": "Do Not Use",
    "50569-3": "Ask Doctor",
    "50568-5": "Ask Doctor or Pharmacist",
    "50567-7": "When Using",
    "50566-9": "Stop Use",
    "53414-9": "Pregnancy or Breast Feeding",
    "50565-1": "Keep Out of Reach of Children",
    "51727-6": "Inactive Ingredients",
    "53413-1": "Questions",
    "69718-5": "Statement of Identity",
    "69719-3": "Health Claim",
    # Packaging and SPL bookkeeping
    "51945-4": "Package Label",
    "48780-1": "SPL Product Data Elements",
    "48779-3": "SPL Indexing Data Elements",
    UNCLASSIFIED: "SPL Unclassified",
    # Animal drugs
    "50745-9": "Veterinary Indications",
    "50744-2": "Information for Owners/Caregivers",
    "50740-0": "Guaranteed Analysis of Feed",
    "50741-8": "Safe Handling Warning",
    "50742-6": "Environmental Warning",
    "50743-4": "Food Safety Warning",
    "53412-3": "Residue Warning",
    "54433-8": "User Safety Warnings",
    # Devices and cellular therapy
    "60555-0": "Accessories",
    "60556-8": "Assembly or Installation Instructions",
    "60557-6": "Calibration Instructions",
    "60558-4": "Cleaning, Disinfecting, and Sterilization Instructions",
    "60559-2": "Components",
    "60560-0": "Intended Use of the Device",
    "60562-6": "Route, Method and Frequency of Administration",
    "60563-4": "Summary of Safety and Effectiveness",
    "60684-8": "Cellular Therapy",
    "69758-1": "Diagram of Device",
    "69759-9": "Risks",
    "69760-7": "Compatible Accessories",
    "69761-5": "Alarms",
    "69762-3": "Troubleshooting",
    "69763-1": "Disposal and Waste Handling",
}


def section_name(code: str | None, own_title: str = "") -> str:
    """The heading for a section coded ``code``: the LOINC name, or the section's own title when the code is
    unknown or unclassified (then "SPL Unclassified" / "Section" if it has no title either)."""
    name = SECTION_NAMES.get((code or "").strip())
    if name and code != UNCLASSIFIED:
        return name
    return own_title or name or "Section"
