"""Explorer (first cut): train the default network and show its loss."""

import plotly.graph_objects as go
import streamlit as st

from bnviz import Settings
from bnviz.train import train


@st.cache_data(max_entries=64)
def cached_curves(settings: Settings):
    return train(settings).curves


st.title("bnviz — Batch Normalization made visible")
settings = Settings()
curves = cached_curves(settings)
fig = go.Figure(go.Scatter(x=curves["step"], y=curves["loss"], name="loss"))
fig.update_layout(xaxis_title="step", yaxis_title="mini-batch loss", height=360)
st.plotly_chart(fig, key="loss")
st.metric("test accuracy", f"{curves['test_acc'].iloc[-1]:.1%}")
