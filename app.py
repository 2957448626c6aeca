"""bnviz: Batch Normalization made visible. Layout only: the pages do the rest."""

import streamlit as st
from threadpoolctl import threadpool_limits


@st.cache_resource
def one_blas_thread() -> None:
    """Once per server process: BLAS on one thread.

    Every session's script runs in its own thread; OpenBLAS threads on top of those
    oversubscribe the cores and spin (measured here: a digits run 3x slower on 2 cores),
    and bnviz's matrices are too small to gain from them.
    """
    threadpool_limits(1, user_api="blas")


one_blas_thread()
st.set_page_config(page_title="bnviz: Batch Normalization made visible", page_icon="📊", layout="wide")

pages = [
    st.Page("pages/explorer.py", title="Explorer", icon="🔬", default=True, url_path="explorer"),
    st.Page("pages/sweep.py", title="Sweeps", icon="🧮", url_path="sweep"),
    st.Page("pages/teach_glass_box.py", title="1 · One mini-batch, by hand", icon="🔍", url_path="glass-box"),
    st.Page("pages/teach_bias.py", title="2 · Why b does nothing", icon="➖", url_path="bias"),
    st.Page(
        "pages/teach_covariate_shift.py", title="3 · Covariate shift", icon="🌊", url_path="covariate-shift"
    ),
    st.Page("pages/teach_noise.py", title="4 · Noise and regularization", icon="🎲", url_path="noise"),
    st.Page("pages/teach_test_time.py", title="5 · At test time", icon="🧪", url_path="test-time"),
    st.Page("pages/teach_conventions.py", title="6 · Conventions", icon="📐", url_path="conventions"),
]
st.navigation(pages).run()
