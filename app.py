"""bnviz: Batch Normalization made visible. Layout only: the pages do the rest."""

import streamlit as st

st.set_page_config(page_title="bnviz: Batch Normalization made visible", page_icon="📊", layout="wide")

pages = [
    st.Page("pages/explorer.py", title="Explorer", icon="🔬", default=True, url_path="explorer"),
    st.Page("pages/sweep.py", title="Sweeps", icon="🧮", url_path="sweep"),
]
st.navigation(pages).run()
