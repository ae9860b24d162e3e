"""The built-in adapter kinds (xslt, python, mapping) against the adapter conformance suite."""

from __future__ import annotations

from tests.conformance.adapter_suite import SOURCE_NS, AdapterSuite, manifest

XSL = (
    '<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"'
    f' xmlns:s="{SOURCE_NS}">\n'
    '  <xsl:template match="/s:In">\n'
    "{body}"
    "  </xsl:template>\n"
    "</xsl:stylesheet>\n"
)


class TestXsltKind(AdapterSuite):
    kind = "xslt"

    def folder(self, ok: bool) -> dict[str, str]:
        body = (
            '    <Out><Name><xsl:value-of select="s:Name"/></Name></Out>\n'
            if ok
            else '    <xsl:message terminate="yes">no Name here</xsl:message>\n'
        )
        return {
            "adapter.yaml": manifest(f"conformance-{self.kind}", "xslt", stylesheet="t.xsl"),
            "t.xsl": XSL.format(body=body),
        }


PYTHON = f"""\
from lxml import etree

from exchange.adapters import PythonAdapter

NS = "{{{SOURCE_NS}}}"


class Upper(PythonAdapter):
    def translate(self, document, envelope):
        out = etree.Element("Out")
        etree.SubElement(out, "Name").text = document.getroot().findtext(NS + "Name").upper()
        return etree.ElementTree(out)


class Broken(PythonAdapter):
    def translate(self, document, envelope):
        return document.getroot().findtext(NS + "Missing").upper()  # AttributeError on None
"""


class TestPythonKind(AdapterSuite):
    kind = "python"

    def folder(self, ok: bool) -> dict[str, str]:
        name = "Upper" if ok else "Broken"
        return {
            "adapter.yaml": manifest(
                f"conformance-{self.kind}", "python", **{"class": f"code:{name}"}
            ),
            "code.py": PYTHON,
        }


class TestMappingKind(AdapterSuite):
    kind = "mapping"

    def folder(self, ok: bool) -> dict[str, str]:
        # A code outside the code list fails the translation.
        then = "[upper]" if ok else "[{lookup: codes}]"
        return {
            "adapter.yaml": manifest(f"conformance-{self.kind}", "mapping"),
            "mapping.yaml": (
                f"namespaces: {{s: '{SOURCE_NS}'}}\n"
                "target: {root: Out, namespace: 'urn:conformance:out'}\n"
                "codelists: {codes: {Z9: zed}}\n"
                "fields:\n"
                f'  - {{element: Name, from: "s:Code", then: {then}}}\n'
            ),
        }
