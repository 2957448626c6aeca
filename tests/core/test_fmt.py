"""fmt: the one number formatter and text-to-number parser."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bnviz import fmt


@pytest.mark.parametrize(
    "x,digits,text",
    [
        (0.0, 3, "0"),
        (-0.0, 3, "0"),
        (1e-5, 3, "1e-5"),
        (-1e-5, 3, "-1e-5"),
        (2.5e-5, 3, "2.5e-5"),
        (1.0, 3, "1"),
        (0.9, 3, "0.9"),
        (0.9, 1, "0.9"),
        (1 - 0.9, 4, "0.1"),  # 0.09999999999999998
        (0.012345, 3, "0.0123"),
        (-0.012345, 3, "-0.0123"),
        (1.5, 3, "1.5"),  # no trailing zeros
        (0.0001, 3, "0.0001"),
        (123456, 3, "123456"),  # whole: in full
        (123456.7, 3, "1.23e5"),
        (-123456.7, 3, "-1.23e5"),
        (2_000_000.0, 3, "2e6"),
        (1e-300, 3, "1e-300"),
        (3.14159265, 10, "3.14159265"),
        (3.14159265358979, 10, "3.141592654"),
        (2.675, 3, "2.67"),  # the float below 2.675: no decimal rounding surprises hidden
        (float("nan"), 3, "nan"),
        (float("inf"), 3, "inf"),
        (float("-inf"), 3, "-inf"),
        (7, 3, "7"),  # ints are numbers too
    ],
)
def test_number(x, digits, text):
    assert fmt.number(x, digits) == text


def test_number_never_writes_minus_zero_nor_padded_exponents():
    for x in (-0.0, -1e-9, -1e-15, -4e-10):
        text = fmt.number(x, 3, zero_below=1e-9)
        assert text == "0" or float(text) != 0, text
    assert fmt.number(-1e-9, 3, zero_below=1e-9) == "-1e-9"  # not below: written
    assert fmt.number(-4e-10, 3, zero_below=1e-9) == "0"  # rounding noise of an exact zero
    for x in (1e-5, 1e-10, 1e5 + 0.5, 1.5e21):
        assert "e-0" not in fmt.number(x) and "e+" not in fmt.number(x)


def test_number_with_exponent_writes_every_fraction_as_a_power_of_ten():
    assert fmt.number(1e-3, 3, exponent=True) == "1e-3"
    assert fmt.number(0.1, 3, exponent=True) == "1e-1"
    assert fmt.number(0.037, 3, exponent=True) == "3.7e-2"
    assert fmt.number(1.0, 3, exponent=True) == "1"  # whole: in full, never 1e+00
    assert fmt.number(0.0, 3, exponent=True) == "0"
    assert fmt.number(1.2345e-8, 2, exponent=True) == "1.2e-8"


def test_number_refuses_no_digits():
    with pytest.raises(ValueError, match="digits"):
        fmt.number(1.5, 0)


@given(st.floats(-1e300, 1e300), st.integers(1, 17))  # not next to the largest float: 1.5e308 -> "2e308"
def test_number_reads_back_within_its_digits(x, digits):
    text = fmt.number(x, digits)
    back = fmt.parse_number(text)
    assert back == pytest.approx(x, rel=10.0 ** (1 - digits), abs=0.0)
    assert text == "0" or back != 0, "a zero is written 0, never -0"
    assert "e+" not in text and "e-0" not in text and "e0" not in text


@pytest.mark.parametrize(
    "x,decimals,signed,text",
    [
        (0.9173, 1, False, "91.7%"),
        (1.0, 1, False, "100.0%"),
        (0.0, 1, False, "0.0%"),
        (-0.0, 1, False, "0.0%"),
        (-0.0001, 1, False, "0.0%"),  # rounds to zero: no minus
        (-0.0001, 1, True, "+0.0%"),
        (0.025, 1, True, "+2.5%"),
        (-0.025, 1, True, "-2.5%"),
        (0.9, 0, False, "90%"),
        (float("nan"), 1, False, "nan"),
    ],
)
def test_percent(x, decimals, signed, text):
    assert fmt.percent(x, decimals, signed=signed) == text


@given(st.floats(-10, 10, allow_nan=False).filter(lambda x: abs(x) >= 0.0005))
def test_percent_is_pythons_percent_format_away_from_zero(x):
    assert fmt.percent(x) == f"{x:.1%}"
    assert fmt.percent(x, signed=True) == f"{x:+.1%}"


@pytest.mark.parametrize(
    "x,digits,text",
    [
        (0.0, 3, "0"),
        (1e-5, 3, "10^{-5}"),
        (2.5e-5, 3, r"2.5 \times 10^{-5}"),
        (-1e-5, 3, r"-1 \times 10^{-5}"),
        (123456.7, 3, r"1.23 \times 10^{5}"),
        (0.9, 3, "0.9"),
        (1.0, 3, "1"),
        (1234.0, 3, "1234"),
        (float("nan"), 3, r"\text{nan}"),
        (float("inf"), 3, r"\infty"),
        (float("-inf"), 3, r"-\infty"),
    ],
)
def test_latex(x, digits, text):
    assert fmt.latex(x, digits) == text


def test_latex_rounding_noise_is_zero():
    assert fmt.latex(3e-17, 3, zero_below=1e-9) == "0"
    assert fmt.latex(3e-17, 3) == r"3 \times 10^{-17}"


@pytest.mark.parametrize("x", [0.1 + 0.2, 1e-5, 1.2345678901234e-7, 2.0, -1.5, 1e300, 5e-324])
def test_exact_round_trips(x):
    text = fmt.exact(x)
    assert float(text) == x and fmt.parse_number(text) == x
    assert fmt.exact(2.0) == "2.0" and fmt.exact(1e-5) == "1e-05"  # repr: what URLs already hold


@pytest.mark.parametrize(
    "text,value",
    [
        ("1e-3", 1e-3),
        (" 0.5 ", 0.5),
        ("0", 0.0),
        ("-0", 0.0),
        ("7", 7.0),
        ("+2", 2.0),
        ("−2", -2.0),  # Unicode minus
        ("\t1.5\n", 1.5),
        (".5", 0.5),
        ("1E5", 1e5),
    ],
)
def test_parse_number(text, value):
    assert fmt.parse_number(text) == value


@pytest.mark.parametrize(
    "text,reason",
    [
        ("abc", "not a number"),
        ("", "not a number"),
        ("   ", "not a number"),
        ("1,5", "not a number"),  # a comma separates values on a command line
        ("1 000", "not a number"),
        ("<b>2</b>", "not a number"),
        ("0x10", "not a number"),
        ("nan", "not a finite number"),
        ("inf", "not a finite number"),
        ("-Infinity", "not a finite number"),
        ("1e999", "not a finite number"),
    ],
)
def test_parse_number_says_why_not(text, reason):
    with pytest.raises(fmt.NumberError) as err:
        fmt.parse_number(text)
    assert err.value.reason == reason and err.value.text == text
    assert str(err.value) == f"{text!r} is {reason}"
    assert isinstance(err.value, ValueError)


def test_parse_number_typed_reads_what_people_type_into_a_table():
    assert fmt.parse_number("2,5", typed=True) == 2.5
    assert fmt.parse_number(" −1 000,25 ", typed=True) == -1000.25
    with pytest.raises(fmt.NumberError, match="not a number"):
        fmt.parse_number("2,5,1", typed=True)


@given(st.floats(-1e300, 1e300))
def test_parse_number_reads_every_exact_and_number_text(x):
    assert fmt.parse_number(fmt.exact(x)) == x
    assert math.isfinite(fmt.parse_number(fmt.number(x, 6)))


def test_cell_formatters_write_numbers_and_leave_other_cells():
    import numpy as np
    import pandas as pd

    cells = fmt.number_cells(3)
    assert [cells(v) for v in (0.012345, np.float32(2.5e-5), np.int64(7), -0.0, "unit 1")] == [
        "0.0123", "2.5e-5", "7", "0", "unit 1"]  # fmt: skip
    assert fmt.percent_cells(1)(np.float64(0.9173)) == "91.7%" and fmt.percent_cells(0)(0.5) == "50%"
    table = pd.DataFrame({"name": ["a"], "x": [1.5e-5], "acc": [0.25]})
    html = table.style.format(cells).format(fmt.percent_cells(1), subset=["acc"]).to_html()
    assert ">1.5e-5<" in html and ">25.0%<" in html and ">a<" in html


def test_epsilon_is_written_as_a_power_of_ten() -> None:
    assert [fmt.epsilon(e) for e in (1e-5, 1e-3, 0.0, 1.0, 0.1)] == ["1e-5", "1e-3", "0", "1", "1e-1"]
