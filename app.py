"""bnviz: Batch Normalization made visible. Layout only: the pages do the rest."""

import gc

import streamlit as st
from threadpoolctl import threadpool_limits

from bnviz.app import lesson


@st.cache_resource
def one_blas_thread() -> None:
    """Once per server process: BLAS on one thread.

    Every session's script runs in its own thread; OpenBLAS threads on top of those
    oversubscribe the cores and spin (measured here: a digits run 3x slower on 2 cores),
    and bnviz's matrices are too small to gain from them.
    """
    threadpool_limits(1, user_api="blas")


one_blas_thread()


@st.cache_resource
def warm_up() -> None:
    """Once per server process: start the training workers and train each page's first view
    in the background (the Explorer's two runs, the covariate-shift experiment and the noisy-BN
    run of the "Why does BN help?" view), unless the shared disk cache has them, so the first
    students do not wait for them."""
    from bnviz import Settings, teach, why
    from bnviz.app import ui

    first = Settings()
    noisy = why.noise_settings(why.base_settings(), why.DEFAULT_NOISE)[1]
    ui.trainer().prefetch([first, first.replace(use_bn=False),
                           teach.covariate_settings(True), teach.covariate_settings(False), noisy])


warm_up()
st.set_page_config(page_title="bnviz: Batch Normalization made visible", page_icon="📊", layout="wide")

# The default page is served at the app's root only ("/?<settings>" is the Explorer's permalink),
# yet it reserves a path name: one nobody types, so "/explorer" can be the alias below.
PAGES = "bnviz/app/pages"
explorer = st.Page(
    f"{PAGES}/explorer.py",
    title="Explorer",
    icon=":material/biotech:",
    default=True,
    url_path="explorer-root",
)


def explorer_alias() -> None:
    """``/explorer?...`` (a natural guess, and older links) lands on the Explorer, settings kept."""
    st.switch_page(explorer, query_params=st.query_params.to_dict())


explore = [
    explorer,
    st.Page(f"{PAGES}/sweep.py", title="Sweeps", icon=":material/grid_on:", url_path="sweep"),
    st.Page(explorer_alias, title="Explorer", url_path="explorer", visibility="hidden"),
]
teaching = [
    st.Page(
        f"{PAGES}/teach_glass_box.py",
        title="1 · One mini-batch, by hand",
        icon=":material/calculate:",
        url_path="glass-box",
    ),
    st.Page(
        f"{PAGES}/teach_bias.py",
        title="2 · Why b does nothing",
        icon=":material/exposure_zero:",
        url_path="bias",
    ),
    st.Page(
        f"{PAGES}/teach_covariate_shift.py",
        title="3 · Covariate shift",
        icon=":material/waves:",
        url_path="covariate-shift",
    ),
    st.Page(
        f"{PAGES}/teach_noise.py",
        title="4 · Noise and regularization",
        icon=":material/grain:",
        url_path="noise",
    ),
    st.Page(
        f"{PAGES}/teach_test_time.py",
        title="5 · At test time",
        icon=":material/science:",
        url_path="test-time",
    ),
    st.Page(
        f"{PAGES}/teach_conventions.py",
        title="6 · Conventions",
        icon=":material/translate:",
        url_path="conventions",
    ),
    st.Page(
        f"{PAGES}/teach_folding.py",
        title="7 · BN folded away",
        icon=":material/compress:",
        url_path="folding",
    ),
    st.Page(
        f"{PAGES}/teach_why.py",
        title="8 · Why does BN help?",
        icon=":material/landscape:",
        url_path="why",
    ),
]
teach = [st.Page(f"{PAGES}/lesson.py", title="Lessons", icon=":material/school:", url_path="lesson")]
page = st.navigation({"Explore": explore, "Teaching views": teaching, "Teach": teach})
lesson.presenter()  # ?present=1: no sidebar, larger text
lesson.bar()  # the lesson step the URL names, above its page
page.run()
lesson.sidebar_tools(page.url_path)  # presenter mode, "add this view to my lesson"


@st.cache_resource
def collect_young_garbage_only() -> None:
    """Once per server process, after its first whole page: what is loaded by then (Streamlit,
    Plotly's validators, NumPy, pandas: some 130,000 objects that live as long as the server)
    is moved out of the garbage collector's sight (``gc.freeze``), and the youngest generation
    is collected after 5,000 allocations instead of 700. A rerun allocates tens of thousands
    of short-lived objects; with Python's defaults a rerun of the Explorer spent 5-25 ms in
    the collector, much of it scanning those long-lived objects again (docs/performance.md)."""
    gc.freeze()
    gc.set_threshold(GC_YOUNGEST, 20, 20)


GC_YOUNGEST = 5_000
collect_young_garbage_only()
