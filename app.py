"""bnviz: Batch Normalization made visible. Layout only: the pages do the rest."""

import streamlit as st

from bnviz.app import lesson, process

process.one_blas_thread()
process.warm_up()
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

process.collect_young_garbage_only()  # after the first whole page: see its docstring
