"""Pure figure builders: data (a Run, a DataFrame) in, ``plotly.graph_objects.Figure`` out.

No Streamlit here and no math beyond arranging what the core computed. One module
per area: ``explorer`` (the main page), ``sweep``, ``teach``.
"""
