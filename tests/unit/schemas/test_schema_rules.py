"""Built-in business rules, checked against values worked out by hand."""

from __future__ import annotations

from datetime import date

import pytest

from exchange.schemas.rules import (
    BUILTIN_RULES,
    RESIDENT_ID_WEIGHTS,
    USCC_WEIGHTS,
    division_code,
    resident_id,
    uscc,
)


def test_weights_are_the_published_ones() -> None:
    assert USCC_WEIGHTS == (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
    assert RESIDENT_ID_WEIGHTS == (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def test_builtin_rule_ids() -> None:
    assert set(BUILTIN_RULES) == {"uscc", "resident-id", "division-code"}


# 91350100M000100Y4: values 9,1,3,5,0,1,0,0,21(M),0,0,0,1,0,0,30(Y),4; weighted sum
# 9+3+27+135+26+420+8+900+112 = 1640; 1640 mod 31 = 28; 31-28 = 3.
# 91110000000000000: 9*1+1*3+1*9+1*27 = 48; 48 mod 31 = 17; 31-17 = 14 -> 'E'.
# 00000000000000000: sum 0; 31-0 = 31, which stands for 0.
@pytest.mark.parametrize("code", ["91350100M000100Y43", "91110000000000000E", "000000000000000000"])
def test_uscc_accepts_valid_codes(code: str) -> None:
    assert uscc(code) is None


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("91350100M000100Y44", "expected '3'"),
        ("91110000000000000F", "expected 'E'"),
        ("91350100M000100Y4", "must be 18 characters"),
        ("91350100M000100Y433", "must be 18 characters"),
        ("91350100I000100Y43", "contains 'I'"),
        ("91350100M000100O43", "contains 'O'"),
        ("91350100m000100Y43", "contains 'm'"),
        ("9S350100M000100Y43", "contains 'S'"),
        ("913501A0M000100Y43", "6-digit administrative division code"),
    ],
)
def test_uscc_refuses_invalid_codes(code: str, expected: str) -> None:
    message = uscc(code)
    assert message is not None
    assert expected in message


# 11010519491231002: 1,1,0,1,0,5,1,9,4,9,1,2,3,1,0,0,2 weighted: 7+9+0+5+0+20+2+9+24+27+7+18+30
# +5+0+0+4 = 167; 167 mod 11 = 2; (12-2) mod 11 = 10 -> 'X'.
# 11010119900307001: 7+9+0+5+0+4+2+9+54+0+0+27+0+35+0+0+2 = 154; 154 mod 11 = 0; 12 mod 11 = 1.
@pytest.mark.parametrize("number", ["11010519491231002X", "110101199003070011"])
def test_resident_id_accepts_valid_numbers(number: str) -> None:
    assert resident_id(number) is None


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("110101199003070012", "expected '1'"),
        ("110105194912310021", "expected 'X'"),
        ("11010519491231002x", "lowercase x"),
        ("11010519491231002", "17 digits followed by a digit or X"),
        ("11010519491231002Y", "must end in a digit or X"),
        ("1101051949123100AX", "17 digits followed by a digit or X"),
        ("990101199003070011", "not a province-level code"),
        ("110101199002300011", "not a real date"),
        ("110101199013010011", "not a real date"),
        ("110101180001010011", "not plausible"),
    ],
)
def test_resident_id_refuses_invalid_numbers(number: str, expected: str) -> None:
    message = resident_id(number)
    assert message is not None
    assert expected in message


def test_resident_id_refuses_a_birth_date_in_the_future() -> None:
    # 11010120250101001: 7+9+0+5+0+4+4+0+12+15+0+9+0+5+0+0+2 = 72; 72 mod 11 = 6; 12-6 = 6.
    number = "110101202501010016"
    message = resident_id(number, today=date(2024, 12, 31))
    assert message is not None and "in the future" in message
    assert resident_id(number, today=date(2025, 1, 1)) is None


@pytest.mark.parametrize("code", ["110000", "350100", "650102", "710000", "810000", "820000"])
def test_division_code_accepts_province_prefixes(code: str) -> None:
    assert division_code(code) is None


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("11000", "exactly 6 digits"),
        ("1100001", "exactly 6 digits"),
        ("11000a", "exactly 6 digits"),
        ("１１００００", "exactly 6 digits"),  # full-width digits
        ("160000", "starts with 16"),
        ("100000", "starts with 10"),
        ("000000", "starts with 00"),
        ("830000", "starts with 83"),
    ],
)
def test_division_code_refuses_invalid_codes(code: str, expected: str) -> None:
    message = division_code(code)
    assert message is not None
    assert expected in message
