"""Legal-entity canonical record → social security's employer registration.

Written in Python rather than XSLT because social security wants the list of insurance
schemes as an option and reports missing data with its own wording; the translation itself
is the module-level function :func:`to_employer_registration`, so that it can be exercised
without the hub around it.

What changes on the way:

- the credit code becomes the unit code, the name the unit name; every registration from
  the legal-entity registry is an enterprise;
- the number of employees becomes the estimate of insured employees;
- the registered address gives the division where the unit is insured;
- the approval date of the registration is the date of the social insurance registration
  (registration is joint with the business licence: "多证合一");
- the contact person, when there is one, becomes the social insurance contact.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lxml import etree

from exchange.adapters import AdapterSpec, PythonAdapter
from exchange.envelope import Envelope
from exchange.errors import TranslationError

LE = "urn:cn:gov:exchange:canonical:legal-entity:1"
HRSS = "urn:cn:gov:mohrss:employer-registration:1"

INSURANCE_TYPES = ("pension", "medical", "unemployment", "work-injury", "maternity")
DEFAULT_INSURANCE_TYPES = ("pension", "medical", "unemployment", "work-injury")

_NS = {"le": LE}
# The output uses HRSS as its default namespace. lxml's key for that is None, which
# lxml-stubs does not allow in its nsmap type; hence Any.
_OUTPUT_NSMAP: Any = {None: HRSS}


def parse_insurance_types(text: str) -> tuple[str, ...]:
    """``"pension, medical"`` → ``("pension", "medical")``; refuses unknown or empty lists."""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in INSURANCE_TYPES]
    if unknown or not names:
        raise ValueError(
            f"insurance_types {text!r} must be a comma-separated list of "
            f"{', '.join(INSURANCE_TYPES)}; fix the option in adapter.yaml"
        )
    return tuple(dict.fromkeys(names))


def to_employer_registration(
    document: etree._ElementTree,
    *,
    insurance_types: Sequence[str] = DEFAULT_INSURANCE_TYPES,
) -> etree._ElementTree:
    """Translate a ``canonical.LegalEntity`` document into a ``hrss.EmployerRegistration``."""
    source = document.getroot()
    if source.tag != f"{{{LE}}}LegalEntity":
        raise TranslationError(
            f"canonical-to-hrss expects a {{{LE}}}LegalEntity document, got {source.tag}; "
            "route only canonical.LegalEntity messages to this adapter"
        )

    def text(path: str, *, required: bool = True) -> str | None:
        found = source.xpath(f"normalize-space({path})", namespaces=_NS)
        value = str(found) if found else None
        if value is None and required:
            raise TranslationError(
                f"canonical-to-hrss: the legal-entity record has no {path.replace('le:', '')}; "
                "the record must be valid against canonical.LegalEntity"
            )
        return value

    root = etree.Element(f"{{{HRSS}}}EmployerRegistration", nsmap=_OUTPUT_NSMAP)

    def add(parent: etree._Element, name: str, value: str | None) -> etree._Element:
        child = etree.SubElement(parent, f"{{{HRSS}}}{name}")
        child.text = value
        return child

    add(root, "UnitCode", text("le:CreditCode"))
    add(root, "UnitName", text("le:Name"))
    add(root, "UnitType", "enterprise")
    representative = add(root, "LegalRepresentative", None)
    add(representative, "Name", text("le:LegalRepresentative/le:Name"))
    add(representative, "IdentityNumber", text("le:LegalRepresentative/le:IdentityNumber"))
    phone = text("le:LegalRepresentative/le:Phone", required=False)
    if phone is not None:
        add(representative, "Phone", phone)
    add(root, "InsuredEmployeeEstimate", text("le:EmployeeCount"))
    add(root, "DivisionCode", text("le:Address/le:DivisionCode"))
    add(root, "Address", text("le:Address/le:Text"))
    postal_code = text("le:Address/le:PostalCode", required=False)
    if postal_code is not None:
        add(root, "PostalCode", postal_code)
    add(root, "IndustryCode", text("le:IndustryCode"))
    add(root, "EstablishedDate", text("le:EstablishedDate"))
    add(root, "RegistrationDate", text("le:Source/le:ApprovalDate"))
    schemes = add(root, "InsuranceTypes", None)
    for insurance_type in insurance_types:
        add(schemes, "InsuranceType", insurance_type)
    contact_name = text("le:Contact/le:Name", required=False)
    contact_phone = text("le:Contact/le:Phone", required=False)
    if contact_name is not None and contact_phone is not None:
        contact = add(root, "Contact", None)
        add(contact, "Name", contact_name)
        add(contact, "Phone", contact_phone)
    return etree.ElementTree(root)


class ToEmployerRegistration(PythonAdapter):
    """The hub's adapter around :func:`to_employer_registration`.

    Option ``insurance_types``: comma-separated schemes the unit joins (default: pension,
    medical, unemployment, work-injury; maternity insurance is merged into medical insurance
    in most provinces).
    """

    def __init__(
        self, spec: AdapterSpec, *, insurance_types: str = ",".join(DEFAULT_INSURANCE_TYPES)
    ) -> None:
        super().__init__(spec)
        self.insurance_types = parse_insurance_types(insurance_types)

    def translate(self, document: etree._ElementTree, envelope: Envelope) -> etree._ElementTree:
        return to_employer_registration(document, insurance_types=self.insurance_types)
