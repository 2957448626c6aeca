"""Plotly charts that update in place: a small Streamlit component around ``Plotly.react``.

``st.plotly_chart`` gives a chart whose figure changed a new element id, so the browser
unmounts it and draws the new figure from scratch. This component's iframe stays
mounted for as long as its key is on the page; a new figure is handed to
``Plotly.react`` on the same graph div, which redraws what changed, and when a rerun
changes several live charts they draw one per frame, the first first. What it gains in
the Explorer is measured with ``bench/ab_display.py`` (figures in docs/performance.md).

    from bnviz import livechart
    livechart.plotly_chart(fig, key="movie")   # fig: a go.Figure or its dict
    livechart.plotly_chart(fig, key="movie", player={"active": 0, "labels": [...]},
                           on_frame=lambda k: ...)  # the player stopped on frame k

The page around the chart gets the CSS class ``st-key-<key>`` (an ``st.container``),
and the chart is ``iframe`` → ``#chart.js-plotly-plot`` inside it (same origin: the
tests read ``contentDocument``). Plotly's JavaScript is the copy the ``plotly`` Python
package installs (``plotly/package_data/plotly.min.js``): nothing is downloaded. It is
copied once, with our two files, into a directory that Streamlit serves, because
Streamlit serves a component's files only from inside one folder. It is also written there
gzip-compressed (``plotly.min.js.gz``, 1.5 MB against 4.8), which the chart fetches and
decompresses itself (``DecompressionStream``): Streamlit's server compresses every component
file anew on every request (gzip level 9, about 0.2 s of CPU for Plotly's bundle), and a
file already compressed it sends as it is. The page around the charts (same origin) keeps
the decompressed text for the charts drawn after it; a browser without
``DecompressionStream`` loads ``plotly.min.js`` instead.

A figure of at least ``BY_REFERENCE`` characters of JSON (the Explorer's histograms, with a
frame per checkpoint) goes by reference: its JSON is written once to ``figs/<hash>.json`` in
that folder, named by a hash of its content, and the component is sent only that name; the
chart fetches the file (the browser keeps it, and the chart keeps the last few it drew). A
rerun that sends a figure the chart has drawn (a step moved, the player stopped, a view
chosen again) then costs a few bytes instead of the figure, and the chart does not even
fetch it. The images of a figure with frames (the decision boundary of every checkpoint,
the training points: the same for every layer, unit and statistics of a run) go the same
way in a file of their own (``ASSETS``): choosing another view of a run fetches the
histograms, not the images again. ``cache_key`` names a figure for every session of this
server: the figure is built and serialised once per key (``figure`` may then be a function
that builds it).

``views`` (:class:`Views`) lets a chart draw another option of a select box on the page
without the server: the figures of the options are built in a background thread and named
in a file the chart fetches; the chart watches the box (same origin) and draws the chosen
option's figure in the task that chose it. The Explorer's Unit box works so.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import plotly
import plotly.graph_objects as go
import streamlit as st
import streamlit.components.v1 as components
from _plotly_utils.basevalidators import is_homogeneous_array
from _plotly_utils.utils import is_skipped_key, plotlyjsShortTypes, to_typed_array_spec

from ...charts.style import PRESENTER_SCALE, scaled_text
from ..lesson import presenting
from ..shared import LRU

__all__ = ["Views", "figure_json", "figure_ref", "plotly_chart", "prepare", "sent_figure", "served_dir"]

HERE = Path(__file__).resolve().parent
FILES = ("index.html", "canvaschart.js", "livechart.js")
PLOTLY_GZ = "plotly.min.js.gz"  # Plotly's bundle, compressed once (served as application/gzip)


def _plotly_js() -> Path:
    return Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))


def served_dir() -> Path:
    """The folder Streamlit serves the component from (made on first use, then reused).

    Named by a hash of our files and the Plotly version, so an upgrade of either gets a
    new folder; made under a temporary name and renamed, so two servers starting at once
    cannot serve half a copy.
    """
    digest = hashlib.sha256(plotly.__version__.encode())
    for name in FILES:
        digest.update((HERE / name).read_bytes())
    target = Path(tempfile.gettempdir()) / f"bnviz-livechart-{digest.hexdigest()[:16]}"
    if (target / PLOTLY_GZ).is_file():
        return target
    work = Path(tempfile.mkdtemp(prefix="bnviz-livechart-", dir=target.parent))
    work.chmod(0o755)  # readable by a server running as another user
    for name in FILES:
        shutil.copyfile(HERE / name, work / name)
    bundle = _plotly_js().read_bytes()
    (work / "plotly.min.js").write_bytes(bundle)
    # mtime=0: the same bytes for the same bundle, whenever and wherever it is made
    (work / PLOTLY_GZ).write_bytes(gzip.compress(bundle, compresslevel=9, mtime=0))
    try:
        os.replace(work, target)
    except OSError:  # another process made it first
        shutil.rmtree(work, ignore_errors=True)
    return target


_ROOT = served_dir()
_component = components.declare_component("livechart", path=str(_ROOT))


def figure_json(figure: go.Figure | dict[str, Any]) -> str:
    """The figure as the JSON text the component draws (``data``, ``layout``, ``frames``).

    orjson, not the standard library: a histogram figure of 120 kB is encoded in 0.2 ms
    instead of 2.6 ms. NaN and infinities become ``null``, as in Plotly's JSON, so the
    browser's ``JSON.parse`` takes every figure. A ``go.Figure`` without frames is encoded
    from its own property dicts with Plotly's typed arrays (:func:`_typed_arrays`): the same
    JSON as ``figure.to_json()`` once parsed, in about a tenth of the time, since
    ``to_json`` deep-copies the figure and asks of every value whether it is an array of any
    of the kinds Plotly accepts (docs/performance.md). A dict without frames gets the same
    typed arrays; one with frames (``movie_spec``) is encoded as it is."""
    if isinstance(figure, go.Figure):
        if figure.frames:
            return figure.to_json()
        figure = _typed_arrays({"data": figure._data, "layout": figure._layout})
    elif not figure.get("frames"):  # a Figure's dicts without the Figure (charts.figure_dict)
        figure = _typed_arrays(figure)
    return orjson.dumps(figure, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS).decode()


def _typed_arrays(obj: Any) -> Any:
    """``obj`` with each array that is a dict's value (NumPy, pandas, …) as Plotly's typed array
    spec (``{"dtype", "bdata"}``), a copy, ``obj`` untouched: what Plotly's
    ``convert_to_base64`` does to a figure's dict in ``Figure.to_dict``, the keys it skips
    (``range``, …) and its test of what is an array included. Plain values are passed
    over first, and dicts and lists (never arrays to Plotly) are walked into; NumPy arrays
    and scalars are told apart by type: Plotly's test (``is_homogeneous_array``) is slow, and
    nearly every value is one of those."""
    if isinstance(obj, dict):
        return {k: v if isinstance(v, _PLAIN) or is_skipped_key(k) else
                _typed_arrays(v) if isinstance(v, dict | list | tuple) else
                _typed(v) if isinstance(v, np.ndarray) else
                v if isinstance(v, np.generic) else  # a NumPy scalar: not an array to Plotly
                _typed(v) if is_homogeneous_array(v) else v
                for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [v if isinstance(v, _PLAIN) else _typed_arrays(v) for v in obj]
    return obj


_PLAIN = (str, int, float, type(None))
# to_typed_array_spec's downcasts of the integer types plotly.js has no typed array for
_NARROWER = {"int64": ("int8", "int16", "int32"), "uint64": ("uint8", "uint16", "uint32")}


def _typed(v: Any) -> Any:
    """Plotly's ``to_typed_array_spec`` of an array: a NumPy array or a pandas Series of one of
    the types plotly.js reads (``plotlyjsShortTypes``) directly, 64-bit integers downcast to
    the narrowest of those that holds them as Plotly does, everything else (empty arrays,
    other types) by Plotly itself, which first converts every value through narwhals, several
    times slower."""
    a = v.to_numpy() if isinstance(v, pd.Series) else v
    if isinstance(a, np.ndarray) and a.dtype.name in _NARROWER and a.size:
        lo, hi = a.min(), a.max()
        fits = [t for t in _NARROWER[a.dtype.name] if np.iinfo(t).min <= lo and hi <= np.iinfo(t).max]
        if not fits:
            return v  # too large for plotly.js's typed arrays: Plotly leaves these as they are
        a = a.astype(fits[0])
    short = plotlyjsShortTypes.get(a.dtype.name) if isinstance(a, np.ndarray) and a.size else None
    if short is None:
        return to_typed_array_spec(v)
    spec = {"dtype": short, "bdata": base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")}
    if a.ndim > 1:
        spec["shape"] = str(a.shape)[1:-1]
    return spec


# --------------------------------------------------------------------------- figures by reference

FIGURES = "figs"  # the sub-folder of served_dir() holding figures sent by reference
BY_REFERENCE = 20_000  # figure JSON this long or longer is sent by reference (figure_ref)
FIGURES_BYTES = 256_000_000  # the figures folder is pruned (least recently sent first) above this
KEEP_S = 120.0  # a figure sent this recently is never pruned: a browser may be about to fetch it
PRUNE_EVERY = 32  # files written between two looks at the folder's size
CACHE_ENTRIES = 512  # figures kept by cache_key (their names; the text when sent inline)

_lock = threading.Lock()
# cache_key -> ("figure" | "figure_ref", its value, the files it needs: the figure's and its images')
_cached: LRU[tuple[str, str, tuple[str, ...]]] = LRU(CACHE_ENTRIES)
_written = 0


def _figures_dir() -> Path:
    return _ROOT / FIGURES


def figure_ref(text: str) -> str | None:
    """Put ``text`` (a figure's JSON) where the component's folder is served, named by a
    hash of its content, and return that name relative to the folder (``figs/<hash>.json``);
    None if the folder cannot be written (the figure is then sent inline).

    Written once under a temporary name and renamed, so a browser never reads half a file and
    servers sharing the folder write the same name for the same figure. Sent again, the
    file's time is renewed: pruning (``FIGURES_BYTES``) removes the least recently sent.
    """
    global _written
    name = hashlib.blake2b(text.encode(), digest_size=16).hexdigest() + ".json"
    folder = _figures_dir()
    path = folder / name
    try:
        os.utime(path)
        return f"{FIGURES}/{name}"
    except FileNotFoundError:
        pass
    except OSError:
        return None
    if not _write(path, text):
        return None
    with _lock:
        _written += 1
        due = _written % PRUNE_EVERY == 0
    if due:
        prune_figures()
    return f"{FIGURES}/{name}"


def _write(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` (in the figures folder) under a temporary name, then rename
    it: a browser never reads half a file. False if the folder cannot be written."""
    try:
        path.parent.mkdir(mode=0o755, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")  # not *.json: pruning skips it
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # readable by a server running as another user, like the folder
        os.replace(tmp, path)
    except OSError:
        return False
    return True


def prune_figures(limit: int = FIGURES_BYTES, keep_s: float = KEEP_S, folder: Path | None = None) -> None:
    """Delete the least recently sent figures until the folder (the figures folder of
    :func:`served_dir`) holds at most ``limit`` bytes, sparing those sent in the last
    ``keep_s`` seconds."""
    try:
        entries = [(p.stat(), p) for p in (folder or _figures_dir()).glob("*.json")]
    except OSError:
        return
    total = sum(stat.st_size for stat, _ in entries)
    recent = time.time() - keep_s
    for stat, p in sorted(entries, key=lambda e: e[0].st_mtime):
        if total <= limit or stat.st_mtime > recent:
            break
        try:
            p.unlink()
            total -= stat.st_size
        except OSError:
            pass


ASSETS = "assets"  # the figure's key naming its images' file; a source "asset:<i>" is its item i
ASSET_PREFIX = "asset:"


def _hoisted(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` with the data-URI sources of its images (``layout.images`` and each frame's)
    replaced by ``asset:<i>``, the images themselves in a file named by ``spec[ASSETS]``
    (:func:`figure_ref`); ``spec`` itself if it has no frames, no such image, or the file
    cannot be written. The dicts on the way to a source are copied, not changed."""
    frames = spec.get("frames")
    if not frames:
        return spec
    sources: dict[str, int] = {}

    def moved(images: Any) -> Any:
        if not isinstance(images, list):
            return images
        out = []
        for im in images:
            src = im.get("source") if isinstance(im, dict) else None
            if isinstance(src, str) and src.startswith("data:"):
                im = {**im, "source": ASSET_PREFIX + str(sources.setdefault(src, len(sources)))}
            out.append(im)
        return out

    layout = spec.get("layout") or {}
    new_layout = {**layout, "images": moved(layout["images"])} if "images" in layout else layout
    new_frames = [{**f, "layout": {**f["layout"], "images": moved(f["layout"]["images"])}}
                  if isinstance(f.get("layout"), dict) and "images" in f["layout"] else f
                  for f in frames]  # fmt: skip
    if not sources:
        return spec
    ref = figure_ref(json.dumps(list(sources), separators=(",", ":")))
    if ref is None:
        return spec
    return {**spec, "layout": new_layout, "frames": new_frames, ASSETS: ref}


def _resolved(spec: dict[str, Any]) -> dict[str, Any]:
    """:func:`_hoisted` undone: the images back in place of their ``asset:<i>`` sources."""
    if ASSETS not in spec:
        return spec
    assets = json.loads((_ROOT / spec.pop(ASSETS)).read_text(encoding="utf-8"))

    def back(images: list[Any]) -> None:
        for im in images:
            src = im.get("source") if isinstance(im, dict) else None
            if isinstance(src, str) and src.startswith(ASSET_PREFIX):
                im["source"] = assets[int(src[len(ASSET_PREFIX):])]

    back(spec.get("layout", {}).get("images", []))
    for f in spec.get("frames", []):
        back((f.get("layout") or {}).get("images", []))
    return spec


def _sent(figure: go.Figure | dict[str, Any] | Callable[[], go.Figure | dict[str, Any]],
          cache_key: Hashable | None, scale: bool | None = None) -> dict[str, str]:
    """The component's figure argument: ``{"figure": json}`` or ``{"figure_ref": name}``,
    with ``"assets"``: the name of its images' file, if it has one (the chart fetches both at
    once; ``scale``: presenter mode's larger text; None: as the page's URL says)."""
    scale = presenting() if scale is None else scale
    key = None if cache_key is None else (cache_key, scale)
    if key is not None:
        hit = _cached.get(key)
        if hit is not None and all(figure_ref_alive(ref) for ref in hit[2]):
            return _argument(hit)
    made = figure() if callable(figure) else figure
    if scale:  # chart text of at least 18 px for a projector
        spec = json.loads(made.to_json()) if isinstance(made, go.Figure) else made
        made = scaled_text(spec, PRESENTER_SCALE)
    if isinstance(made, dict):
        made = _hoisted(made)
    needs = (made[ASSETS],) if isinstance(made, dict) and ASSETS in made else ()
    text = figure_json(made)
    ref = figure_ref(text) if len(text) >= BY_REFERENCE else None
    sent = ("figure", text, needs) if ref is None else ("figure_ref", ref, (ref, *needs))
    if key is not None:
        _cached.put(key, sent)
    return _argument(sent)


def _argument(sent: tuple[str, str, tuple[str, ...]]) -> dict[str, str]:
    """:func:`_sent`'s argument from its cache entry (the files it needs: a figure file's
    name first, then its images')."""
    kind, value, needs = sent
    images = needs[1:] if kind == "figure_ref" else needs
    return {kind: value, **({ASSETS: images[0]} if images else {})}


# --------------------------------------------------------------------------- views drawn in the browser

VIEWS_BUILT_AT_ONCE = 17  # the most figures one views file names (a block of units and "all")


class Views:
    """Other views a chart may be asked for next, drawn by the browser without the server.

    ``source`` is a CSS selector of a text input in the page around the chart (a select
    box's ``input``: its value is the label of the chosen option). When the page's user
    chooses another option there, the chart looks the label up in ``figures`` and draws that
    figure at once; the rerun the choice causes then finds the figure on screen. The server
    stays the authority: if it sends another figure, the chart draws that.

    ``figures`` maps each label to the cache key of its figure and a function that builds
    it (as :func:`plotly_chart`'s ``figure`` and ``cache_key``). They are built, at most
    ``VIEWS_BUILT_AT_ONCE``, by one background thread per server (:func:`prepare`), once
    per ``key`` for every session, and named in a small file of the figures folder
    (``figs/views-<hash of key>.json``: label -> figure file), pruned with the figures. The
    chart fetches that file, then the one figure chosen. Until the file is written, or if a
    figure is missing, the choice goes through the server.
    """

    def __init__(self, source: str, key: Hashable,
                 figures: dict[str, tuple[Hashable, Callable[[], go.Figure | dict[str, Any]]]]) -> None:
        if len(figures) > VIEWS_BUILT_AT_ONCE:
            raise ValueError(f"at most {VIEWS_BUILT_AT_ONCE} views, got {len(figures)}")
        self.source, self.key, self.figures = source, key, figures


def views_ref(key: Hashable, scale: bool) -> str:
    """The name of the views file of ``key`` (relative to the served folder), the same in
    every process of a deployment for the same key: a hash of its ``repr`` (the keys are
    tuples of settings, strings and numbers)."""
    digest = hashlib.blake2b(repr((key, scale)).encode(), digest_size=16).hexdigest()
    return f"{FIGURES}/views-{digest}.json"


_preparing: dict[str, Future[None]] = {}  # views files being built
_builder: ThreadPoolExecutor | None = None  # the background thread, started on first use


def _views_alive(ref: str) -> bool:
    """The views file ``ref`` and every figure it names are there (their times renewed)."""
    try:
        names = json.loads((_ROOT / ref).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return figure_ref_alive(ref) and all(figure_ref_alive(name) for name in names.values())


def prepare(views: Views, scale: bool, build: bool = True) -> tuple[str, bool]:
    """Have ``views``'s figures and its views file built in the background (unless that file
    and its figures are there, or being built, or ``build`` is false). Returns the file's
    name, which the chart is sent (it asks for the file when it needs it: not there yet,
    the server draws), and whether the file and its figures are there now."""
    global _builder
    ref = views_ref(views.key, scale)
    if _views_alive(ref):
        return ref, True
    if not build:
        return ref, False
    with _lock:
        if ref not in _preparing:
            if _builder is None:
                _builder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="livechart-views")
            _preparing[ref] = _builder.submit(_build_views, views, scale, ref)
    return ref, False


def views_done(ref: str, timeout: float | None = None) -> None:
    """Wait until the views file ``ref`` is built, if it is being built (tests, benchmarks)."""
    with _lock:
        future = _preparing.get(ref)
    if future is not None:
        future.result(timeout)


def _build_views(views: Views, scale: bool, ref: str) -> None:
    """Build every figure of ``views`` (through the cache, as :func:`plotly_chart` would send
    it) and write the views file; no file if a figure cannot go by reference."""
    try:
        names: dict[str, str] = {}
        for label, (cache_key, build) in views.figures.items():
            sent = _sent(build, cache_key, scale)
            if "figure_ref" not in sent:
                return  # a small figure, or the folder cannot be written: the server sends it
            names[label] = sent["figure_ref"]
        _write(_ROOT / ref, json.dumps(names, separators=(",", ":")))
    except Exception:  # a background nicety: the page works without it, so log and go on
        logging.getLogger(__name__).exception("bnviz live chart: could not build the views %s", ref)
    finally:
        with _lock:
            _preparing.pop(ref, None)


def figure_ref_alive(ref: str) -> bool:
    """The file ``ref`` (a figure or its images) is still there; its time is renewed (it is
    being sent again), so pruning keeps it."""
    try:
        os.utime(_ROOT / ref)
    except OSError:
        return False
    return True


def sent_figure(args: dict[str, Any]) -> dict[str, Any]:
    """The figure a component's arguments carry (inline or by reference), as a dict: what
    the chart draws. For tests and benchmarks that read the page's messages."""
    if "figure_ref" in args:
        return _resolved(json.loads((_ROOT / args["figure_ref"]).read_text(encoding="utf-8")))
    return _resolved(json.loads(args["figure"]))


def plotly_chart(figure: go.Figure | dict[str, Any] | Callable[[], go.Figure | dict[str, Any]], *, key: str,
                 title: str = "", player: dict[str, Any] | None = None,
                 on_frame: Callable[[int], None] | None = None, caption: str = "",
                 cache_key: Hashable | None = None, views: Views | None = None,
                 build_views: bool = True, canvas: bool = False) -> bool:
    """Draw ``figure``; on later reruns with the same ``key``, update that chart in place.

    ``cache_key``: the figure is the same for every session that gives this key (e.g. the
    run's settings and the view's choices): it is built (``figure`` may be a function of no
    arguments that builds it) and serialised once per key on this server, and later calls
    with the key send what was sent before. Large figures go by reference (``BY_REFERENCE``).

    ``title`` names the chart for screen readers (the iframe's title).

    ``player`` puts Play / Pause, "↺ from 0", a speed choice (0.5× to 4×) and a step
    slider (a range input, so the keyboard works) under the chart. They show the
    figure's ``frames`` in the browser, with no server round trip; the frames are not
    handed to Plotly. Keys: ``active`` (the frame to show: the chart draws that frame,
    whatever frame the figure's own data are), ``sync`` (a value the page changes when
    it moves the player itself, e.g. a Reset button: the player then jumps to
    ``active`` even if it already stood there before), ``labels`` (one per frame),
    ``prefix`` (before the label, e.g. ``"step "``), ``interval_ms`` (Play's pace at 1×)
    and ``label`` (the slider's accessible name). Neither ``active`` nor ``sync`` makes
    the chart redraw: a rerun that only moves the step costs the browser nothing.

    ``views`` (:class:`Views`): the figures of the other options of a select box on the
    page, which the chart then draws as soon as one is chosen, before the rerun. They are
    built in the background the first time ``build_views`` is true (a page may wait for
    a sign that its user is looking around, since most views are never asked for).
    Returns True if they are built: a chart that has read their file draws a view chosen
    in the page itself, before the rerun the choice causes.

    ``on_frame(k)`` is called, before the rerun it causes, when the player stops on
    frame ``k``: Pause, the end of Play, the scrubber released (or moved with a key).
    Not while Play runs: that would be a rerun per frame.

    ``canvas``: the figure is drawn by the chart's own renderer (``canvaschart.js``) instead of
    Plotly: bars, lines, tick markers, text and images on axes, without Plotly's toolbar,
    zoom or legend. It draws the histograms' figure, or a frame of it, in a few
    milliseconds against Plotly's 50–80 (docs/performance.md), so a unit chosen or a step
    of the player is on screen in the next frame.

    The camera button of the chart's toolbar (on a canvas: "⤓ PNG" in the player's bar) saves
    it as a PNG at twice its pixels with ``caption`` (e.g. the settings,
    ``bnviz.charts.export.caption``; the player's step is added) under it, in a file named
    after ``key``.
    """
    widget = f"{key}_live"

    def reported() -> None:
        value = st.session_state.get(widget)
        if on_frame is not None and isinstance(value, dict) and isinstance(value.get("frame"), int):
            on_frame(value["frame"])

    scale = presenting()
    sent: dict[str, Any] = _sent(figure, cache_key, scale)
    chosen, ready = None, False
    if views is not None:
        ref, ready = prepare(views, scale, build_views)
        chosen = {"from": views.source, "ref": ref}
    with st.container(key=key):
        _component(**sent, title=title, player=player, views=chosen, canvas=canvas, key=widget, default=None,
                   caption=caption, file_name=f"bnviz-{key}",
                   on_change=reported if on_frame is not None else None)
    return ready
