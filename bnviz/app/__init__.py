"""The Streamlit floor: pages, widget helpers, URL sync, caching and the live-chart component.

Nothing here computes: a page reads :class:`bnviz.Settings`, asks the core for results and
:mod:`bnviz.charts` for figures, and places them.
"""
