"""Builders of small adapter definitions for the adapter tests."""

from __future__ import annotations

XSL_HEAD = '<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">\n'
XSL_TAIL = "</xsl:stylesheet>\n"


def xslt_manifest(name: str, stylesheet: str = "t.xsl", **extra: str) -> str:
    lines = [
        f"name: {name}",
        'version: "1.0"',
        "kind: xslt",
        "source: a.In",
        "target: b.Out",
        f"stylesheet: {stylesheet}",
        *(f"{key}: {value}" for key, value in extra.items()),
    ]
    return "\n".join(lines) + "\n"


def stylesheet(body: str) -> str:
    return XSL_HEAD + body + "\n" + XSL_TAIL
