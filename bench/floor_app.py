"""The floor: a one-slider, one-chart Streamlit page (Streamlit's own round trip).

``bench/app_latency.py`` serves this next to the real app and compares against it.
"""

import numpy as np
import plotly.graph_objects as go
import streamlit as st

a = st.slider("a", 0, 100, 50, key="a")
x = np.linspace(0, 1, 50)
fig = go.Figure(go.Scatter(x=x, y=np.sin(2 * np.pi * x * (1 + a / 10))))
fig.update_layout(height=300)
st.plotly_chart(fig, key="chart")
