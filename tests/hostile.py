"""The classic XML attacks, as bytes; each must be refused with a 4xx and do nothing."""

from __future__ import annotations

from pathlib import Path


def billion_laughs() -> bytes:
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10)
    ]
    return f'<?xml version="1.0"?><!DOCTYPE r [{"".join(entities)}]><r>&lol9;</r>'.encode()


def quadratic_blowup() -> bytes:
    big = "A" * 100_000
    return f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "{big}">]><r>{"&a;" * 2000}</r>'.encode()


def external_entity(secret_file: Path) -> bytes:
    return (
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret_file}">]><r>&x;</r>'
    ).encode()


def external_dtd(url: str) -> bytes:
    return f'<?xml version="1.0"?><!DOCTYPE r SYSTEM "{url}"><r/>'.encode()


def parameter_entities(url: str) -> bytes:
    return (f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % p SYSTEM "{url}"> %p;]><r/>').encode()


def utf16_external_entity(secret_file: Path) -> bytes:
    text = (
        '<?xml version="1.0" encoding="UTF-16"?>'
        f'<!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret_file}">]><r>&x;</r>'
    )
    return text.encode("utf-16")


def deep_nesting(depth: int = 10_000) -> bytes:
    return b"<a>" * depth + b"</a>" * depth


def moderately_deep(depth: int = 200) -> bytes:
    return b"<a>" * depth + b"</a>" * depth


def xinclude(secret_file: Path) -> bytes:
    return (
        '<r xmlns:xi="http://www.w3.org/2001/XInclude">'
        f'<xi:include href="file://{secret_file}" parse="text"/></r>'
    ).encode()


INVALID_ENCODING = b'<?xml version="1.0" encoding="UTF-8"?><r>\xff\xfe\xfa</r>'
UNKNOWN_ENCODING = b'<?xml version="1.0" encoding="X-NO-SUCH"?><r/>'


def all_attacks(secret_file: Path, url: str) -> dict[str, tuple[bytes, int]]:
    """name -> (document, expected status)."""
    return {
        "billion-laughs": (billion_laughs(), 400),
        "quadratic-blowup": (quadratic_blowup(), 400),
        "external-entity-file": (external_entity(secret_file), 400),
        "external-dtd": (external_dtd(url), 400),
        "parameter-entities": (parameter_entities(url), 400),
        "utf16-external-entity": (utf16_external_entity(secret_file), 400),
        "deep-nesting": (deep_nesting(), 400),
        "moderately-deep": (moderately_deep(), 400),
        "invalid-encoding": (INVALID_ENCODING, 400),
        "unknown-encoding": (UNKNOWN_ENCODING, 400),
    }
