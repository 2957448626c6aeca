"""The one number formatter and the one text-to-number parser of bnviz.

The numbers the pages, the charts and the command line write as text are written here,
and every number a person types (a URL value, a ``--param`` value, a table cell) is read
here. (Plotly's hover and tick formats are d3 format strings the browser applies.)::

    number(x, digits=3)      text and tables: significant digits, no trailing zeros,
                             never "-0", powers of ten as 1e-5 (not 1e-05)
    percent(x, decimals=1)   a fraction as a percentage: 0.9173 -> "91.7%"
    latex(x, digits=3)       for st.latex: powers of ten as 10^{-5}, 2.5 \\times 10^{-5}
    exact(x)                 the shortest text that reads back as exactly x (URLs, commands)
    parse_number(text)       text -> finite float, or a NumberError saying why not
    number_cells(digits)     number, as the cell formatter of a table (pandas' Styler);
    percent_cells(decimals)  percent, likewise

``digits`` lets each place keep the precision it needs; the rules are the same.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

__all__ = [
    "WHOLE_BELOW",
    "NumberError",
    "exact",
    "latex",
    "number",
    "number_cells",
    "parse_number",
    "percent",
    "percent_cells",
]

# Whole numbers below this are written in full (1198, 5000, 123456), whatever ``digits``:
# rounding them to significant digits would hide digits that are all exact.
WHOLE_BELOW = 1e6


def number(x: float, digits: int = 3, *, zero_below: float = 0.0, exponent: bool = False) -> str:
    """``x`` with ``digits`` significant digits: ``number(0.012345) == "0.0123"``.

    No trailing zeros (``1.5``, not ``1.50``), never ``-0``, powers of ten as ``1e-5`` and
    ``1.23e5``; whole numbers below ``WHOLE_BELOW`` in full. ``|x| < zero_below`` is
    written ``0`` (for rounding noise of an exact zero, e.g. a mean of 1e-17).
    ``exponent=True`` writes every number that is not whole as a power of ten
    (``1e-3``, ``3.7e-2``), for values read on a log scale. NaN and ±infinity are
    ``nan``, ``inf``, ``-inf``.
    """
    if digits < 1:
        raise ValueError(f"digits must be at least 1, got {digits}")
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0 or abs(x) < zero_below:
        return "0"
    if x.is_integer() and abs(x) < WHOLE_BELOW:
        return str(int(x))
    text = f"{x:.{digits - 1}e}" if exponent else f"{x:.{digits}g}"
    mantissa, e, power = text.partition("e")
    if "." in mantissa and e:  # the "e" format keeps trailing zeros; "g" already drops them
        mantissa = mantissa.rstrip("0").rstrip(".")
    return mantissa + (f"e{int(power)}" if e else "")


def epsilon(x: float) -> str:
    """ε as the frameworks write it: a power of ten (``1e-5``, ``1e-3``, ``0`` for 0), so
    PyTorch's and Keras's defaults read alike beside each other."""
    return number(x, 3, exponent=True)


def percent(x: float, decimals: int = 1, *, signed: bool = False) -> str:
    """The fraction ``x`` as a percentage with ``decimals`` decimals: ``percent(0.9173) == "91.7%"``.

    ``signed=True`` writes a plus sign on positive values (``+2.5%``), for differences.
    Never ``-0.0%``: a value that rounds to zero is ``0.0%`` (``+0.0%`` when signed).
    NaN and ±infinity are written as by :func:`number`.
    """
    if decimals < 0:
        raise ValueError(f"decimals must be at least 0, got {decimals}")
    x = float(x)
    if not math.isfinite(x):
        return number(x)
    sign = "+" if signed else ""
    text = f"{x:{sign}.{decimals}%}"
    if float(text[:-1]) == 0:
        text = f"{0.0:{sign}.{decimals}%}"
    return text


def latex(x: float, digits: int = 3, *, zero_below: float = 0.0) -> str:
    r"""``x`` for LaTeX, as :func:`number` writes it but with powers of ten written out.

    ``latex(2.5e-5) == r"2.5 \times 10^{-5}"``, ``latex(1e-5) == "10^{-5}"``; NaN is
    ``\text{nan}`` and infinity ``\infty``.
    """
    text = number(x, digits, zero_below=zero_below)
    if text == "nan":
        return r"\text{nan}"
    if text.endswith("inf"):
        return text.replace("inf", r"\infty")
    mantissa, e, power = text.partition("e")
    if not e:
        return text
    return ("" if mantissa == "1" else mantissa + r" \times ") + f"10^{{{power}}}"


def number_cells(digits: int = 3) -> Callable[[object], str]:
    """:func:`number` with ``digits`` digits for every numeric cell of a table (pandas'
    ``Styler.format``); other cells are written as they are."""
    return lambda v: number(float(v), digits) if isinstance(v, numbers.Real) else str(v)


def percent_cells(decimals: int = 1) -> Callable[[object], str]:
    """:func:`percent` with ``decimals`` decimals for every numeric cell of a table."""
    return lambda v: percent(float(v), decimals) if isinstance(v, numbers.Real) else str(v)


def exact(x: float) -> str:
    """The shortest text that reads back as exactly ``x``: ``exact(0.1 + 0.2) == "0.30000000000000004"``.

    For URLs and command lines, where a value must survive the round trip unchanged.
    Whole floats keep their ``.0`` (``"2.0"``), so the text still says it is a float.
    """
    return repr(float(x))


class NumberError(ValueError):
    """Text that is not a finite number; ``reason`` says which: "not a number" or "not a finite number"."""

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f"{text!r} is {reason}")
        self.text = text
        self.reason = reason


def parse_number(text: str, *, typed: bool = False) -> float:
    """The finite number in ``text``: ``parse_number(" 0.5 ") == 0.5``, ``parse_number("1e-3") == 0.001``.

    Spaces around the number are ignored and a Unicode minus (``−2``) is a minus.
    ``typed=True`` also reads what people type into a table: a decimal comma (``2,5``)
    and spaces inside the number (``1 000``); a URL or a command line never needs it
    (there a comma separates values). Raises :class:`NumberError` (a ``ValueError``)
    for anything else, including ``nan`` and ``inf``.
    """
    cleaned = str(text).strip().replace("−", "-")
    if typed:
        cleaned = cleaned.replace(",", ".").replace(" ", "")
    try:
        value = float(cleaned)
    except ValueError:
        raise NumberError(text, "not a number") from None
    if not math.isfinite(value):
        raise NumberError(text, "not a finite number")
    return value
