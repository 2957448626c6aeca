"""Shared pieces of the teaching views (views/teach_*.py): layout helpers, no math."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from bnviz import ui


def intro(title: str, text: str, latex: str | Sequence[str]) -> None:
    """Title, a few plain sentences, then the equation(s)."""
    st.title(title)
    st.markdown(text)
    for eq in [latex] if isinstance(latex, str) else latex:
        st.latex(eq)


def try_this(text: str) -> None:
    st.info(f"**Try this.** {text}", icon=":material/lightbulb:")


def num(x: float, digits: int = 4) -> str:
    """A number for text and tables: 4 significant digits, never '-0'."""
    if x == 0:
        return "0"
    return f"{x:.{digits}g}"


def tex(x: float, digits: int = 4) -> str:
    """A number for st.latex: powers of ten written out."""
    text = num(x, digits)
    if "e" in text:
        mant, exp = text.split("e")
        return (mant + r" \times " if mant != "1" else "") + f"10^{{{int(exp)}}}"
    return text


def url_float(name: str, default: float, lo: float, hi: float, notices: list[str]) -> float:
    """A number from the URL, clamped to [lo, hi]; a notice when it was not taken as is."""
    return float(ui.url_number(name, default, lo, hi, notices))


def first_run(key: str) -> bool:
    """True once per session and page: the moment to read the page's own URL keys."""
    flag = f"_loaded_{key}"
    if flag in st.session_state:
        return False
    st.session_state[flag] = True
    return True


def show_notices(notices: Sequence[str]) -> None:
    ui.show_notices(notices)


def persist(key: str, default: object) -> None:
    """Give widget ``key`` a value that survives visits to other pages.

    Streamlit forgets a widget's state when a run does not draw it (another page);
    a plain copy under another key does not get forgotten.
    """
    store = "_keep_" + key
    if key not in st.session_state:
        st.session_state[key] = st.session_state.get(store, default)
    st.session_state[store] = st.session_state[key]
