"""Built-in business rules: checks on identifiers that an XSD pattern cannot express.

Each rule is a pure function of the text value of an element or attribute and returns an error
message (what is wrong, said so that the sender can fix it) or None when the value is fine. A
manifest names them by id (``rule: uscc``); :data:`BUILTIN_RULES` maps ids to functions.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

Rule = Callable[[str], "str | None"]

# Province-level codes of GB/T 2260 (the first two digits of every division code).
PROVINCE_CODES: frozenset[str] = frozenset(
    [str(n) for n in range(11, 16)]  # Beijing, Tianjin, Hebei, Shanxi, Inner Mongolia
    + [str(n) for n in range(21, 24)]  # Liaoning, Jilin, Heilongjiang
    + [str(n) for n in range(31, 38)]  # Shanghai .. Shandong
    + [str(n) for n in range(41, 47)]  # Henan .. Hainan
    + [str(n) for n in range(50, 55)]  # Chongqing .. Tibet
    + [str(n) for n in range(61, 66)]  # Shaanxi .. Xinjiang
    + ["71", "81", "82"]  # Taiwan, Hong Kong, Macao
)


def division_code(value: str) -> str | None:
    """Six-digit administrative division code (GB/T 2260).

    Checked: exactly six ASCII digits, and the first two are a real province-level code
    (11-15, 21-23, 31-37, 41-46, 50-54, 61-65, 71, 81, 82). Not checked: whether the prefecture
    and county digits name a division that exists; the full county-level table changes every
    year and is not shipped, so a schema that needs that check should add a python: rule with
    its own table.
    """
    if len(value) != 6 or not value.isascii() or not value.isdigit():
        return f"administrative division code {value!r} must be exactly 6 digits (GB/T 2260)"
    if value[:2] not in PROVINCE_CODES:
        return (
            f"administrative division code {value!r} starts with {value[:2]}, which is not a "
            "province-level code of GB/T 2260"
        )
    return None


# GB 32100-2015: 31 characters, digits then uppercase letters without I, O, Z, S, V.
USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUES = {c: i for i, c in enumerate(USCC_CHARSET)}
_USCC_FORM = re.compile(f"[{USCC_CHARSET}]{{18}}")
# Weight of position i (0-based) is 3**i mod 31.
USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))


def uscc_check_character(first17: str) -> str:
    """The check character for the first 17 characters of a unified social credit code."""
    total = sum(_USCC_VALUES[c] * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_CHARSET[(31 - total % 31) % 31]


def uscc(value: str) -> str | None:
    """18-character unified social credit code (GB 32100-2015).

    Layout: registration authority (1), organisation category (1), division code of the
    registering authority (6 digits), organisation code (9), check character (1). Checked: the
    length, the character set (digits and uppercase letters except I, O, Z, S, V), that
    positions 3-8 are digits, and the check character (31 - sum(value * 3**i mod 31) mod 31,
    where 31 stands for 0). The authority and category codes are not checked against their
    tables, which the issuing authorities extend from time to time.
    """
    if len(value) != 18:
        return f"unified social credit code {value!r} must be 18 characters, not {len(value)}"
    if not _USCC_FORM.fullmatch(value):
        bad = sorted({c for c in value if c not in _USCC_VALUES})
        return (
            f"unified social credit code {value!r} contains {''.join(bad)!r}; only digits and "
            "uppercase letters other than I, O, Z, S, V are allowed"
        )
    if not value[2:8].isdigit():
        return (
            f"unified social credit code {value!r}: characters 3-8 must be the 6-digit "
            "administrative division code"
        )
    expected = uscc_check_character(value[:17])
    if value[17] != expected:
        return (
            f"unified social credit code {value!r} has check character {value[17]!r}, "
            f"expected {expected!r}; the code is mistyped"
        )
    return None


# ISO 7064 MOD 11-2: weight of position i (1-based, from the left, of 17) is 2**(18-i) mod 11.
RESIDENT_ID_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_EARLIEST_BIRTH_YEAR = 1850


def resident_id_check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 17 digits of a resident id."""
    total = sum(int(c) * w for c, w in zip(first17, RESIDENT_ID_WEIGHTS, strict=True))
    check = (12 - total % 11) % 11
    return "X" if check == 10 else str(check)


def resident_id(value: str, *, today: date | None = None) -> str | None:
    """18-digit citizen identity number (GB 11643-1999).

    Layout: address code (6 digits, a GB/T 2260 division code), birth date (8 digits,
    YYYYMMDD), sequence (3 digits), check character (0-9 or uppercase X, ISO 7064 MOD 11-2).
    Checked: the form, the division code as :func:`division_code` checks it, that the birth date
    is a real date between 1850 and today, and the check character.
    """
    if len(value) != 18 or not value[:17].isascii() or not value[:17].isdigit():
        return f"resident id {value!r} must be 17 digits followed by a digit or X"
    last = value[17]
    if last == "x":
        return f"resident id {value!r} ends in a lowercase x; write the check character as X"
    if not (last == "X" or (last.isascii() and last.isdigit())):
        return f"resident id {value!r} must end in a digit or X"
    division_problem = division_code(value[:6])
    if division_problem is not None:
        return f"resident id {value!r}: {division_problem}"
    birth = value[6:14]
    try:
        born = date(int(birth[:4]), int(birth[4:6]), int(birth[6:]))
    except ValueError:
        return f"resident id {value!r}: {birth} (characters 7-14) is not a real date"
    if born > (today or date.today()):
        return f"resident id {value!r}: birth date {born.isoformat()} is in the future"
    if born.year < _EARLIEST_BIRTH_YEAR:
        return f"resident id {value!r}: birth year {born.year} is not plausible"
    expected = resident_id_check_character(value[:17])
    if last != expected:
        return (
            f"resident id {value!r} has check character {last!r}, expected {expected!r}; "
            "the number is mistyped"
        )
    return None


def _resident_id(value: str) -> str | None:
    return resident_id(value)


BUILTIN_RULES: dict[str, Rule] = {
    "uscc": uscc,
    "resident-id": _resident_id,
    "division-code": division_code,
}
