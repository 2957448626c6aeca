"""What the app sets up once per server process, whichever session asks first.

``app.py`` runs again on every rerun of every session; a function decorated there is
decorated again each time (Streamlit then reads its source to key its cache). Defined here,
in a module imported once, the decorators run once and each call is a cache lookup.
"""

from __future__ import annotations

import gc

import streamlit as st
from threadpoolctl import threadpool_limits

# gc.set_threshold's youngest generation: collected after this many allocations (Python: 700)
GC_YOUNGEST = 5_000


@st.cache_resource
def one_blas_thread() -> None:
    """BLAS on one thread.

    Every session's script runs in its own thread; OpenBLAS threads on top of those
    oversubscribe the cores and spin (measured here: a digits run 3x slower on 2 cores),
    and bnviz's matrices are too small to gain from them.
    """
    threadpool_limits(1, user_api="blas")


@st.cache_resource
def warm_up() -> None:
    """Start the training workers and train each page's first view in the background (the
    Explorer's two runs, the covariate-shift experiment and the noisy-BN run of the "Why does
    BN help?" view), unless the shared disk cache has them, so the first students do not wait
    for them."""
    from bnviz import Settings, teach, why
    from bnviz.app import ui

    first = Settings()
    noisy = why.noise_settings(why.base_settings(), why.DEFAULT_NOISE)[1]
    ui.trainer().prefetch([first, first.replace(use_bn=False),
                           teach.covariate_settings(True), teach.covariate_settings(False), noisy])


@st.cache_resource
def collect_young_garbage_only() -> None:
    """After the process's first whole page: what is loaded by then (Streamlit, Plotly's
    validators, NumPy, pandas: some 130,000 objects that live as long as the server) is moved
    out of the garbage collector's sight (``gc.freeze``), and the youngest generation is
    collected after :data:`GC_YOUNGEST` allocations instead of 700. A rerun allocates tens of
    thousands of short-lived objects; with Python's defaults a rerun of the Explorer spent
    5-25 ms in the collector, much of it scanning those long-lived objects again
    (docs/performance.md)."""
    gc.freeze()
    gc.set_threshold(GC_YOUNGEST, 20, 20)
