"""Charts for every reader: colours that read on both themes, lines that differ without colour,
no text below 14 px."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from bnviz.charts import style
from bnviz.charts import sweep as sweep_charts
from bnviz.charts import teach as charts

BACKGROUNDS = ("#ffffff", "#0e1117")  # Streamlit's light and dark themes


def _luminance(color: str) -> float:
    """WCAG 2.1 relative luminance of a #rrggbb colour."""
    c = np.array([int(color[i : i + 2], 16) for i in (1, 3, 5)]) / 255
    c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return float(c @ [0.2126, 0.7152, 0.0722])


def _contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_contrast_ratio_of_a_known_pair():
    assert _contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert _contrast("#0072B2", "#ffffff") == pytest.approx(5.19, abs=0.01)


@pytest.mark.parametrize("name", ["BN", "PLAIN", "MARK", "IMPLIED", "RUNNING", "CORRECTED", "POP"])
def test_every_line_colour_has_3_to_1_contrast_on_both_themes(name):
    color = getattr(style, name)
    for bg in BACKGROUNDS:
        assert _contrast(color, bg) >= 3.0, (name, color, bg)


def test_hist_and_the_first_series_colours_read_on_both_themes():
    for color in (*style.HIST, *style.SERIES[:5]):
        assert min(_contrast(color, bg) for bg in BACKGROUNDS) >= 3.0, color


def test_the_named_colours_are_distinct_where_they_meet():
    assert style.BN != style.PLAIN
    assert len({style.RUNNING, style.CORRECTED, style.POP}) == 3, "the statistics chart"
    assert len(set(charts.CHOICE_COLORS.values())) == len(charts.CHOICE_COLORS), "the test-time chart"
    assert len(set(style.HIST)) == 3 and style.CLASS_COLORS[0] != style.CLASS_COLORS[1]
    assert len(set(style.SERIES)) == len(style.SERIES)


def _spread() -> pd.DataFrame:
    m = np.array([1, 2, 4, 8, 16])
    n = 16
    fpc = np.sqrt((n - m) / (n - 1))
    return pd.DataFrame({"m": m, "sd_mu": 1 / np.sqrt(m) * fpc + 0.01, "law_mu": 1 / np.sqrt(m),
                         "law_mu_fpc": fpc / np.sqrt(m), "sd_var": 1.4 / np.sqrt(m) * fpc + 0.02,
                         "law_var": 1.4 / np.sqrt(m), "law_var_fpc": 1.3 / np.sqrt(m) * fpc,
                         "mean_var_ratio": (m - 1) / m})  # fmt: skip


def test_the_noise_chart_draws_the_without_replacement_law_of_sigma2():
    spread = _spread()
    fig = charts.spread_figure(spread)
    go.Figure(fig.to_dict())
    right = [t for t in fig.data if t.yaxis == "y2"]
    laws = [t for t in right if t.mode == "lines"]
    assert len(laws) == 1 and "without replacement" in laws[0].name
    assert laws[0].line.dash == "dot" and laws[0].legendgroup == fig.data[1].legendgroup, "as μ_B's law"
    shown = spread[(spread.m >= 2) & (spread.law_mu_fpc > 0)]  # m = 1 and m = N have no place on a log axis
    np.testing.assert_allclose(laws[0].y, shown["law_var_fpc"])


def _figures() -> list[go.Figure]:
    from bnviz.teach import GlassBox, glass_box

    gb: GlassBox = glass_box([1.0, 2.0, 4.0], 1.5, 0.2, 1e-5)
    curves = pd.DataFrame({"step": [0, 10, 20], "test_acc": [0.5, 0.7, 0.8]})
    effect = pd.DataFrame({"shift": [-1.0, 0.0, 1.0], "loss": [0.5, 0.4, 0.5]})
    track = pd.DataFrame({"step": [0, 10], "p15": [-1.0, -0.5], "p50": [0.0, 0.1], "p85": [1.0, 0.8]})
    gap = pd.DataFrame({"m": [8, 32], "train_acc": [0.9, 0.95], "test_acc": [0.85, 0.9], "gap": [0.05, 0.05]})
    choices = list(charts.CHOICE_COLORS)
    zn = {c: np.zeros(4) for c in choices[:4]}
    probs = {c: np.array([0.3, 0.7]) for c in choices[:4]}
    table = pd.DataFrame({"m": [8], "decay": [0.9], **{c: [0.8] for c in choices}})
    steps = np.arange(1, 4)
    running = {f"convention {i}": np.ones(3) * i for i in range(4)}
    return [
        charts.glass_box_figure(gb),
        charts.bias_shift_figure(effect, effect, 0.5),
        charts.accuracy_figure(curves, curves),
        charts.percentile_figure(track, track),
        charts.spread_figure(_spread()),
        charts.gap_figure(gap),
        charts.test_example_figure(zn, probs, 1),
        charts.test_time_figure(table, choices),
        charts.conventions_figure(steps, np.ones(3), running, 1.0),
    ]


def test_no_teaching_chart_text_is_smaller_than_14_px():
    for fig in _figures():
        go.Figure(fig.to_dict())
        assert fig.layout.font.size >= 14
        for a in fig.layout.annotations:
            assert a.font.size is None or a.font.size >= 14, a.text


def _sample(t) -> tuple:
    """What a legend sample shows apart from colour: a bar's pattern; a line's dash, width
    (a thin noisy line behind thick ones) and marker; a marker's symbol."""
    if t.type == "bar":
        return ("bar", t.marker.pattern.shape)
    if t.mode == "markers":
        return ("markers", t.marker.symbol or "circle")
    symbol = t.marker.symbol or "circle" if t.mode and "markers" in t.mode else None
    return (t.line.dash or "solid", t.line.width, symbol)


def test_lines_of_different_meaning_differ_without_colour():
    for fig in _figures()[1:]:  # the glass box has no legend: each line is labelled in place
        groups: dict[str, list[tuple]] = {}
        for t in fig.data:
            if t.showlegend is not False:
                groups.setdefault(t.type, []).append(_sample(t))
        for samples in groups.values():
            assert len(set(samples)) == len(samples), (fig.layout.title.text, samples)
    example = _figures()[6]
    symbols = [t.marker.symbol for t in example.data if t.type == "scatter"]
    patterns = [t.marker.pattern.shape for t in example.data if t.type == "bar"]
    assert len(set(symbols)) == len(set(patterns)) == 4, "each choice: its own marker and its own bars"


def test_sweep_series_differ_by_dash_and_marker():
    summary = pd.DataFrame({
        "batch_size": [8, 16, 8, 16, 8, 16], "lr": [0.01, 0.01, 0.1, 0.1, 1.0, 1.0],
        "mean": [0.8, 0.85, 0.9, 0.92, 0.5, 0.6], "std": [0.0] * 6, "min": [0.8, 0.85, 0.9, 0.92, 0.5, 0.6],
        "max": [0.8, 0.85, 0.9, 0.92, 0.5, 0.6], "n": [1] * 6, "seeds": [1] * 6, "n_diverged": [0] * 6,
    })  # fmt: skip
    fig = sweep_charts.line(summary, "batch_size", "test_acc", series="lr")
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    assert len(lines) == 3
    assert len({(t.line.dash, t.marker.symbol) for t in lines}) == 3
