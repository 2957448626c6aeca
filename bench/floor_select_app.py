"""A second reference: a select box inside a fragment, redrawing one small chart.

The Explorer's display-only control is a select box in a fragment; this page has the
same kind of control and the floor page's chart, so ``bench/app_latency.py`` can say how
much of the Explorer's time is the control and the fragment (Streamlit's) and how much is
its own figure.
"""

import numpy as np
import plotly.graph_objects as go
import streamlit as st


@st.fragment
def view() -> None:
    a = st.selectbox("Unit", list(range(40)), key="v_unit", format_func=lambda j: f"unit {j + 1}")
    x = np.linspace(0, 1, 50)
    fig = go.Figure(go.Scatter(x=x, y=np.sin(2 * np.pi * x * (1 + a / 10))))
    fig.update_layout(height=300)
    st.plotly_chart(fig, key="chart")


view()
