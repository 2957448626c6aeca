// One Plotly chart inside a Streamlit component that stays mounted across reruns.
//
// st.plotly_chart gives a chart whose figure changed a new element id, so the browser
// throws the old chart away and draws the new one from scratch. Here the iframe and its
// graph div live as long as the page: a new figure is a Plotly.react on the same div,
// which redraws only what changed.
//
// With a `player`, the figure's frames are not given to Plotly: a bar of plain HTML under
// the chart (Play / Pause, "from 0", a range input) applies them with Plotly.animate.
// Plotly's own slider and buttons made every redraw slower (bench/profile_display.py:
// figures in docs/performance.md), and cannot be reached with the keyboard.
//
// Streamlit's component protocol (v1), by hand: we post "streamlit:componentReady",
// "streamlit:setFrameHeight" and, from the player, "streamlit:setComponentValue"; Streamlit
// posts "streamlit:render" with the arguments (`figure`: the figure's JSON text, or
// `figure_ref`: the name of a file holding it, beside this page, and `assets`, that of its
// images' file, if it has one; `title`: the chart's
// accessible name; `player`: null or {active, sync, labels, prefix, interval_ms, label})
// and the page's theme; `canvas: true` has the figure drawn by canvaschart.js instead of
// Plotly (the Explorer's histograms: a few milliseconds a frame against Plotly's 50-80).
//
// The player and the page agree on one step. The player reports the frame it stops on
// (Pause, the end of Play, a scrubber release or key) as the component's value
// {frame, id}; the page then shows that step everywhere. The page moves the player
// (Reset, Step) by sending a new `sync` with `active`; an `active` that arrives with the
// same `sync` and is the frame last reported is the page catching up with the report: the
// chart is already there (and may have moved on, with Play).
// Neither `active` nor `sync` is part of the figure's identity: a rerun that only moves
// the step redraws nothing.
"use strict";

const gd = document.getElementById("chart");
let onCanvas = false; // the figure on screen is drawn by CanvasChart (canvaschart.js), not Plotly

// Show `data` and `layout` with the renderer the message asks for; the graph div then holds
// them (`gd.data`, `gd.layout`) either way. Plotly is loaded by then for a figure it draws
// (draw() waits for index.html's loadPlotly before its first such figure).
async function render(canvas, data, layout, frames, config) {
  if (canvas !== onCanvas) {
    if (onCanvas) CanvasChart.purge(gd);
    else if (gd._fullLayout) Plotly.purge(gd); // Plotly has drawn here (then it is loaded)
    onCanvas = canvas;
  }
  if (canvas) CanvasChart.react(gd, { data, layout });
  else await Plotly.react(gd, { data, layout, frames, config });
}
const post = (type, body) =>
  window.parent.postMessage({ isStreamlitMessage: true, type, ...body }, "*");

let shownKey = null; // the figure JSON, player and theme drawn last
let height = -1;
let queued = null; // the latest render message not drawn yet
let drawing = false;

// Streamlit's fonts, from the page around us (same origin); without them the browser's
// sans-serif is used, which only changes the look.
function adoptFonts() {
  try {
    const parentDoc = window.parent.document;
    const rules = [];
    for (const sheet of parentDoc.styleSheets) {
      let list;
      try { list = sheet.cssRules; } catch (e) { continue; }
      const base = sheet.href || parentDoc.baseURI;
      for (const rule of list) {
        if (rule.constructor.name !== "CSSFontFaceRule") continue;
        rules.push(rule.cssText.replace(/url\((['"]?)([^'")]+)\1\)/g,
          (m, q, u) => `url("${new URL(u, base).href}")`));
      }
    }
    const style = document.createElement("style");
    style.textContent = rules.join("\n");
    document.head.appendChild(style);
  } catch (e) { /* not reachable: keep the default fonts */ }
}

// The Streamlit theme's colours on a figure that sets none of its own for these parts.
function themed(layout, theme) {
  const dark = !!theme && theme.base === "dark";
  const text = (theme && theme.textColor) || (dark ? "#fafafa" : "#31333f");
  const grid = dark ? "rgba(250,250,250,0.13)" : "rgba(49,51,63,0.12)";
  const face = dark ? "#262730" : "#f0f2f6";
  const out = { ...layout };
  out.paper_bgcolor = "rgba(0,0,0,0)";
  out.plot_bgcolor = "rgba(0,0,0,0)";
  out.font = { family: (theme && theme.font) || "sans-serif", color: text, ...(layout.font || {}) };
  out.hoverlabel = { bgcolor: face, bordercolor: grid, font: { color: text }, ...(layout.hoverlabel || {}) };
  out.modebar = { bgcolor: "rgba(0,0,0,0)", color: grid, activecolor: text, ...(layout.modebar || {}) };
  for (const k of Object.keys(layout)) {
    if (/^[xy]axis\d*$/.test(k)) {
      // (not linecolor: with it Plotly draws NaN paths for the scale-anchored map axes)
      out[k] = { gridcolor: grid, zerolinecolor: grid, tickcolor: grid, ...layout[k] };
    }
  }
  out.autosize = true;
  delete out.width; // the iframe's width, followed on resize (config.responsive)
  return out;
}

// What a figure looks like: the theme, the player's options but not where it stands, the figure
// (its text, or the name of its file: a hash of its text).
const keyOf = (message) => {
  const player = message.args.player ? { ...message.args.player, active: null, sync: null } : null;
  const figure = typeof message.args.figure_ref === "string" ? "@" + message.args.figure_ref : message.args.figure;
  return JSON.stringify([message.theme || null, player]) + figure;
};

// A figure sent by reference (`figure_ref`: a file named by a hash of its content, served
// beside this page) is fetched once; the last few texts are kept, so a view chosen again,
// or a rerun that sends the figure on screen, costs no request.
const FETCHED_KEPT = 24; // a block of views (VIEWS_BUILT_AT_ONCE in __init__.py: 17) and a few more
const fetched = new Map(); // figure_ref -> its JSON text, oldest first

async function figureText(args) {
  return typeof args.figure_ref === "string" ? fetchedText(args.figure_ref) : args.figure;
}

async function download(ref) {
  const response = await fetch(ref);
  if (!response.ok) throw new Error(`figure ${ref}: HTTP ${response.status}`);
  return response.text();
}

async function fetchedText(ref) {
  if (fetched.has(ref)) {
    const text = fetched.get(ref);
    fetched.delete(ref);
    fetched.set(ref, text); // the most recent now
    return text;
  }
  const text = await download(ref);
  fetched.set(ref, text);
  trimFetched();
  return text;
}

function trimFetched() {
  while (fetched.size > FETCHED_KEPT) fetched.delete(fetched.keys().next().value);
}

// A figure's images may be in a file of their own (`assets`: its name; a source "asset:<i>" is
// its item i): the same for every view of a run, fetched once. Puts them in place.
const ASSET = "asset:";
const ASSETS_KEPT = 6; // runs
const assetLists = new Map(); // assets file -> (a promise of) its list of image sources

// The list of the assets file `ref`, fetched once. The arguments name it beside the figure
// (`assets`), so that draw() asks for both at once: fetched one after the other, each reply
// waits for the main thread, which the page's other charts keep busy while a new run arrives.
function assetList(ref) {
  let list = assetLists.get(ref);
  if (!list) {
    list = download(ref).then((text) => JSON.parse(text));
    list.catch(() => assetLists.delete(ref)); // asked for again next time
    assetLists.set(ref, list);
    while (assetLists.size > ASSETS_KEPT) assetLists.delete(assetLists.keys().next().value);
  }
  return list;
}

async function withAssets(fig) {
  const ref = fig.assets;
  if (typeof ref !== "string") return fig;
  const list = await assetList(ref);
  const back = (images) => {
    if (!Array.isArray(images)) return;
    for (const im of images) {
      if (im && typeof im.source === "string" && im.source.startsWith(ASSET)) {
        im.source = list[Number(im.source.slice(ASSET.length))];
      }
    }
  };
  back(fig.layout && fig.layout.images);
  for (const f of fig.frames || []) back(f.layout && f.layout.images);
  delete fig.assets;
  return fig;
}

const isShown = (message) => keyOf(message) === shownKey;

const isObject = (x) => x !== null && typeof x === "object" && !Array.isArray(x);

// `over` applied on `base` as Plotly applies an animation frame: objects key by key,
// arrays of objects item by item, anything else replaced.
function merged(base, over) {
  if (isObject(over)) {
    if (!isObject(base)) return over;
    const out = { ...base };
    for (const k of Object.keys(over)) out[k] = merged(base[k], over[k]);
    return out;
  }
  if (Array.isArray(over) && Array.isArray(base) && over.every(isObject)) {
    const out = base.slice();
    over.forEach((item, i) => { out[i] = merged(base[i], item); });
    return out;
  }
  return over;
}

// The figure's data and layout showing animation frame `frame` (its traces and layout on top).
function atFrame(data, layout, frame) {
  if (!frame) return { data, layout };
  const out = data.slice();
  const which = frame.traces || (frame.data || []).map((_, i) => i);
  (frame.data || []).forEach((trace, i) => { out[which[i]] = merged(out[which[i]], trace); });
  return { data: out, layout: frame.layout ? merged(layout, frame.layout) : layout };
}

// ---------------------------------------------------------------- phones: panels stacked

// A figure of panels side by side (one row of x-axes, each on its own y-axis) is about 80 px
// a panel on a phone. There the chart draws a copy of its layout with the panels stacked
// top to bottom, each the full width; the figure from the server and its frames (traces
// and images only) are unchanged, so the player works on either.
//
// A phone: this iframe narrower than NARROW_PX in a page narrower than 640 px, where
// Streamlit stacks its own columns. The page's width is asked too because a live chart
// can be that narrow on a projector (the statistics chart beside its equations at 1280×720,
// the histograms at 150 % zoom), and there its panels stay side by side.
const NARROW_PX = 560;
const PAGE_NARROW_PX = 640;
const BAND_PX = 180; // a stacked panel's height (a scale-anchored one: its aspect, up to twice this)
const TICKS_PX = 24; // the tick labels of the panel above, in the space between two panels

function isPhone() {
  const width = window.innerWidth;
  if (!(width > 0) || width >= NARROW_PX) return false;
  try {
    return host.innerWidth < PAGE_NARROW_PX;
  } catch (e) {
    return true; // the page is out of reach: the iframe alone decides
  }
}

const axisKey = (id) => (id[0] === "x" ? "xaxis" : "yaxis") + id.slice(1); // "y2" -> "yaxis2"
const domainOf = (axis) => (isObject(axis) && Array.isArray(axis.domain) ? axis.domain : [0, 1]);

// The panels of a layout laid out in one row, left to right: [{x, y}] (axis keys), or null
// when it is not such a row (fewer than two panels, x-domains that overlap, an x-axis
// without a y-axis of its own, y-domains that differ).
function panelRow(layout) {
  const panels = [];
  for (const k of Object.keys(layout)) {
    if (!/^xaxis\d*$/.test(k) || !isObject(layout[k]) || layout[k].overlaying) continue;
    const anchor = layout[k].anchor;
    const y = axisKey(typeof anchor === "string" && /^y\d*$/.test(anchor) ? anchor : "y");
    panels.push({ x: k, y, xd: domainOf(layout[k]), yd: domainOf(layout[y]) });
  }
  if (panels.length < 2) return null;
  panels.sort((a, b) => a.xd[0] - b.xd[0]);
  const ys = new Set(panels.map((p) => p.y));
  const [y0, y1] = panels[0].yd;
  const apart = panels.every((p, i) => i === 0 || panels[i - 1].xd[1] <= p.xd[0] + 1e-9);
  const level = panels.every((p) => Math.abs(p.yd[0] - y0) < 1e-9 && Math.abs(p.yd[1] - y1) < 1e-9);
  return ys.size === panels.length && apart && level ? panels : null;
}

// `layout` with its row of panels stacked for a chart `width` px wide (or `layout` itself).
//
// Every x-axis gets the whole width and its y-axis a band of the height, top to bottom, in
// the row's order; between two bands, room for the lower panel's titles (as much as the top
// margin gives the first) and the upper panel's tick labels. A scale-anchored panel (a map)
// gets the band its aspect asks for. Things placed in paper coordinates (annotations such
// as titles, shapes, images) move with the panel they are over, at the same pixel distance
// from it; a legend outside the plot stays as far from it in pixels.
function stacked(layout, width) {
  const panels = panelRow(layout);
  if (!panels) return layout;
  const margin = { l: 80, r: 80, t: 100, b: 80, ...(layout.margin || {}) }; // Plotly's defaults
  const plotW = Math.max(width - margin.l - margin.r, 1);
  const oldH = Math.max((layout.height || 450) - margin.t - margin.b, 1);
  const gap = margin.t + TICKS_PX;
  const bands = panels.map((p) => {
    const x = layout[p.x];
    const y = layout[p.y] || {};
    const span = (axis) => (Array.isArray(axis.range) ? Math.abs(axis.range[1] - axis.range[0]) : 0);
    if (y.scaleanchor !== "x" + p.x.slice(5) || !span(x) || !span(y)) return BAND_PX;
    return Math.min(Math.max(plotW * span(y) / span(x), BAND_PX), 2 * BAND_PX);
  });
  const plotH = bands.reduce((a, b) => a + b, 0) + gap * (panels.length - 1);
  let top = 0;
  const out = { ...layout, height: Math.round(plotH + margin.t + margin.b) };
  panels.forEach((p, i) => {
    p.nd = [1 - (top + bands[i]) / plotH, 1 - top / plotH];
    top += bands[i] + gap;
    out[p.x] = { ...layout[p.x], domain: [0, 1] };
    out[p.y] = { ...(layout[p.y] || {}), domain: p.nd };
  });
  for (const k of Object.keys(layout)) { // overlaying axes share their base's domain
    const base = isObject(layout[k]) && typeof layout[k].overlaying === "string" ? out[axisKey(layout[k].overlaying)] : null;
    if (/^[xy]axis\d*$/.test(k) && base) out[k] = { ...layout[k], domain: base.domain };
  }

  // paper coordinates, old -> new: inside a panel linearly, outside it at the same pixels
  const panelAtX = (x) => {
    let best = panels[0];
    for (const p of panels) if (Math.abs(x - (p.xd[0] + p.xd[1]) / 2) < Math.abs(x - (best.xd[0] + best.xd[1]) / 2)) best = p;
    return best;
  };
  const panelOfAxis = (ref) => panels.find((p) => p.x === axisKey(String(ref).split(" ")[0])) || null;
  const newX = (p, x) => (x < p.xd[0] ? x - p.xd[0] : x > p.xd[1] ? 1 + x - p.xd[1]
    : (x - p.xd[0]) / (p.xd[1] - p.xd[0]));
  const newY = (p, y) => (y > p.yd[1] ? p.nd[1] + (y - p.yd[1]) * oldH / plotH
    : y < p.yd[0] ? p.nd[0] - (p.yd[0] - y) * oldH / plotH
    : p.nd[0] + (y - p.yd[0]) / (p.yd[1] - p.yd[0]) * (p.nd[1] - p.nd[0]));
  // an item with x-like keys `xs` and y-like keys `ys` (an annotation: x, y; a shape: x0, x1, y0, y1)
  const moved = (item, xs, ys) => {
    if (!isObject(item)) return item;
    const xPaper = (item.xref || "paper") === "paper";
    const yPaper = (item.yref || "paper") === "paper";
    if (!xPaper && !yPaper) return item;
    const p = xPaper
      ? panelAtX(xs.map((k) => Number(item[k]) || 0).reduce((a, b) => a + b, 0) / xs.length)
      : panelOfAxis(item.xref);
    if (!p) return item;
    const copy = { ...item };
    if (xPaper) for (const k of xs) if (typeof item[k] === "number") copy[k] = newX(p, item[k]);
    if (yPaper) for (const k of ys) if (typeof item[k] === "number") copy[k] = newY(p, item[k]);
    if (item.sizex !== undefined && xPaper) copy.sizex = item.sizex / (p.xd[1] - p.xd[0]);
    if (item.sizey !== undefined && yPaper) copy.sizey = item.sizey * (p.nd[1] - p.nd[0]) / (p.yd[1] - p.yd[0]);
    return copy;
  };
  if (Array.isArray(layout.annotations)) out.annotations = layout.annotations.map((a) => moved(a, ["x"], ["y"]));
  if (Array.isArray(layout.shapes)) out.shapes = layout.shapes.map((s) => moved(s, ["x0", "x1"], ["y0", "y1"]));
  if (Array.isArray(layout.images)) out.images = layout.images.map((im) => moved(im, ["x"], ["y"]));
  if (isObject(layout.legend) && typeof layout.legend.y === "number") {
    const y = layout.legend.y;
    if (y < 0) out.legend = { ...layout.legend, y: y * oldH / plotH };
    else if (y > 1) out.legend = { ...layout.legend, y: 1 + (y - 1) * oldH / plotH };
  }
  return out;
}

// Plotly widens a margin for what does not fit in it (a legend of several rows under the
// plot), which takes the room from the plot: a stacked figure grows by as much instead, so
// its panels keep their heights in pixels. Returns the figure's height.
async function keepPlotHeight(layout) {
  const margin = { t: 100, b: 80, ...(layout.margin || {}) };
  const size = gd._fullLayout && gd._fullLayout._size;
  const lost = size ? layout.height - margin.t - margin.b - size.h : 0;
  if (!(lost > 1)) return layout.height;
  const grown = Math.round(layout.height + lost);
  await Plotly.relayout(gd, { height: grown });
  return grown;
}

async function draw(message) {
  const theme = message.theme || null;
  if (typeof message.args.assets === "string") assetList(message.args.assets).catch(() => {}); // meanwhile
  const fig = await withAssets(JSON.parse(await figureText(message.args)));
  const layoutText = JSON.stringify(fig.layout || {}); // for rearrange(): Plotly writes into the layout
  const player = message.args.player || null;
  const base = themed(fig.layout || {}, theme); // Plotly keeps it as gd.layout, and writes into it
  await player_.stop(); // the frames are about to change
  player_.style(theme);
  bar.hidden = !player;
  const phone = isPhone();
  document.body.classList.toggle("phone", phone); // the player's bar wraps (index.html)
  const layout = phone ? stacked(base, window.innerWidth) : base;
  const total = layout.height + (player ? bar.offsetHeight : 0);
  if (total !== height) {
    height = total;
    post("streamlit:setFrameHeight", { height });
    // Plotly draws broken paths into a window of height 0: wait for the iframe to grow
    // (or half a second, should it not)
    await new Promise((resolve) => {
      if (window.innerHeight > 0) return resolve();
      window.addEventListener("resize", resolve, { once: true });
      setTimeout(resolve, 500);
    });
  }
  const canvas = !!message.args.canvas;
  if (!canvas) await window.loadPlotly(); // index.html: Plotly only for a figure it draws
  const config = canvas ? {} : {
    displaylogo: false, responsive: true, modeBarButtonsToRemove: ["toImage"],
    modeBarButtonsToAdd: [{ name: "Download as PNG (2×, with a caption)", icon: Plotly.Icons.camera, click: savePng }],
    ...(fig.config || {}),
  };
  const frames = fig.frames || [];
  let shown = { data: fig.data || [], layout };
  if (player) {
    // the player's frame, whichever frame the figure's own data show
    shown = atFrame(shown.data, shown.layout, frames[player_.clamp(player.active, frames.length)]);
  }
  await render(canvas, shown.data, shown.layout, player ? [] : frames, config);
  if (canvas) CanvasChart.preload(frames); // the frames' images decoded before they are shown
  figureHeight = layout !== base && !canvas ? await keepPlotHeight(layout) : layout.height;
  postHeight();
  if (player) player_.load(player, frames);
  shownKey = keyOf(message);
  arrangedFor = { message, layoutText, config, frames: player ? [] : frames, phone, width: window.innerWidth, canvas };
  pngButton.hidden = !canvas; // Plotly's toolbar has the camera; a canvas has this button
}

// The message drawn last and how it was arranged (a resize may change that); the figure's height.
let arrangedFor = null;
let figureHeight = 0;

function postHeight() {
  const total = figureHeight + (bar.hidden ? 0 : bar.offsetHeight);
  if (figureHeight > 0 && total !== height) {
    height = total;
    post("streamlit:setFrameHeight", { height });
  }
}

// A phone turned or a window resized: the panels stacked or side by side again, at the
// frame on screen (its traces are the graph's, its images' sources carried over); and the
// frame's height follows the player's bar, whose rows depend on the width.
async function rearrange() {
  if (!arrangedFor) return;
  if (drawing) { rearrangeSoon(); return; } // after the figure being drawn
  const phone = isPhone();
  document.body.classList.toggle("phone", phone);
  if (phone !== arrangedFor.phone || (phone && window.innerWidth !== arrangedFor.width)) {
    drawing = true;
    try {
      await player_.settle();
      const { message, layoutText, config, frames } = arrangedFor;
      const base = themed(JSON.parse(layoutText), message.theme || null);
      const now = (gd.layout && gd.layout.images) || [];
      const current = Array.isArray(base.images)
        ? { ...base, images: base.images.map((im, i) => (now[i] ? { ...im, source: now[i].source } : im)) }
        : base;
      const layout = phone ? stacked(current, window.innerWidth) : current;
      await render(arrangedFor.canvas, gd.data, layout, frames, config);
      figureHeight = layout !== current && !arrangedFor.canvas ? await keepPlotHeight(layout) : layout.height;
      arrangedFor = { ...arrangedFor, phone, width: window.innerWidth };
    } catch (err) {
      console.error("bnviz live chart: could not lay the figure out again", err);
    } finally {
      drawing = false;
    }
    pump(); // a figure that came meanwhile
  }
  postHeight();
}

let rearrangeTimer = null;
function rearrangeSoon() {
  clearTimeout(rearrangeTimer);
  rearrangeTimer = setTimeout(() => { rearrangeTimer = null; rearrange(); }, 100);
}

// ---------------------------------------------------------------- the player

const bar = document.getElementById("player");
const playButton = document.getElementById("play");
const restartButton = document.getElementById("restart");
const speedSelect = document.getElementById("speed");
const scrub = document.getElementById("scrub");
const stepText = document.getElementById("step");
// a frame is drawn at once, and only its traces and images change (no full redraw)
const JUMP = { mode: "immediate", frame: { duration: 0, redraw: false }, transition: { duration: 0 } };
// A scrubber held on an arrow key changes several times a second: the page hears of the
// frame it settles on, this long after the last change (one rerun, not one per frame).
const REPORT_SETTLE_MS = 150;

const player_ = (() => {
  let frames = [];
  let labels = [];
  let prefix = "";
  let baseInterval = 400; // Play's pace at 1× (`interval_ms`)
  let onScreen = 0; // the frame drawn last
  let wanted = null; // the frame to draw next (the newest request wins)
  let drawing = null; // the promise of the frame being drawn
  let timer = null; // while playing: the next tick
  let pageFrame = 0; // the frame the page shows, or will once it has our last report
  let sync = null; // the page's `sync` received last
  let reportTimer = null;
  let reports = 0;
  const ticks = []; // when Play asked for its last frames (performance.now()), for the tests

  const clamp = (k, n) => Math.min(Math.max(Math.round(Number(k)) || 0, 0), Math.max(n - 1, 0));
  const at = () => Number(scrub.value);
  const interval = () => baseInterval / (Number(speedSelect.value) || 1);

  function showLabel(k) {
    scrub.value = String(k);
    stepText.textContent = prefix + labels[k];
    scrub.setAttribute("aria-valuetext", stepText.textContent);
  }

  async function drawFrames() {
    while (wanted !== null) {
      const k = wanted;
      wanted = null;
      if (k === onScreen || !frames[k]) continue;
      try {
        if (onCanvas) {
          const s = atFrame(gd.data, gd.layout, frames[k]);
          CanvasChart.react(gd, s);
        } else {
          await Plotly.animate(gd, frames[k], JUMP);
        }
        onScreen = k;
      } catch (err) {
        // Plotly rejects with nothing when another animation interrupts this one
        if (err !== undefined) console.error("bnviz live chart: could not draw frame", k, err);
      }
    }
  }

  function go(k) {
    showLabel(k);
    wanted = k;
    if (!drawing) drawing = drawFrames().finally(() => { drawing = null; });
  }

  // The page shows frame k's step from now on (it reruns; the chart is already there).
  function report(k) {
    clearTimeout(reportTimer);
    reportTimer = null;
    if (k === pageFrame) return;
    pageFrame = k;
    reports += 1;
    post("streamlit:setComponentValue", { value: { frame: k, id: `${Date.now()}-${reports}` }, dataType: "json" });
  }

  function reportSoon() {
    clearTimeout(reportTimer);
    reportTimer = setTimeout(() => report(at()), REPORT_SETTLE_MS);
  }

  function setPlaying(on) {
    playButton.textContent = on ? "❚❚ Pause" : "▶ Play";
    playButton.setAttribute("aria-pressed", String(on));
  }

  function tick() {
    timer = setTimeout(() => {
      ticks.push(performance.now());
      if (ticks.length > 30) ticks.shift();
      go(Math.min(at() + 1, frames.length - 1));
      if (at() >= frames.length - 1) {
        pause();
        report(at()); // the end: the page follows
      } else {
        tick();
      }
    }, interval());
  }

  function play(from) {
    clearTimeout(timer);
    clearTimeout(reportTimer);
    if (from !== undefined) go(from);
    else if (at() >= frames.length - 1) go(0); // at the end, Play starts again
    setPlaying(true);
    tick();
  }

  function pause() {
    clearTimeout(timer);
    timer = null;
    setPlaying(false);
  }

  playButton.addEventListener("click", () => {
    if (timer === null) return play();
    pause();
    report(at());
  });
  restartButton.addEventListener("click", () => play(0));
  // while the thumb is dragged: frames only; on its release (or a key): the page too
  scrub.addEventListener("input", () => { pause(); go(at()); });
  scrub.addEventListener("change", reportSoon);
  speedSelect.addEventListener("change", () => {
    if (timer === null) return;
    clearTimeout(timer);
    tick(); // the new pace from now
  });

  return {
    clamp,
    // New frames (a new figure, drawn at frame `active`): stop playing, forget the old ones.
    load(player, newFrames) {
      frames = newFrames;
      labels = player.labels || newFrames.map((_, i) => String(i));
      prefix = player.prefix || "";
      baseInterval = player.interval_ms || 400;
      onScreen = clamp(player.active, frames.length);
      pageFrame = onScreen;
      sync = player.sync === undefined ? null : player.sync;
      scrub.max = String(Math.max(frames.length - 1, 0));
      scrub.setAttribute("aria-label", player.label || "Frame");
      showLabel(onScreen);
    },
    // The same figure again, from a rerun: move to the page's frame if the page moved
    // (Reset, Step: a new `sync`, or a frame we did not report), else stay where we are.
    follow(player) {
      const k = clamp(player.active, frames.length);
      const s = player.sync === undefined ? null : player.sync;
      if (s === sync && k === pageFrame) return;
      sync = s;
      pageFrame = k;
      pause();
      clearTimeout(reportTimer);
      go(k);
    },
    // Before a new figure: no tick, no frame left to draw, no report (the new figure
    // comes with the page's frame).
    async stop() {
      pause();
      clearTimeout(reportTimer);
      reportTimer = null;
      wanted = null;
      if (drawing) await drawing;
    },
    style(theme) {
      const dark = !!theme && theme.base === "dark";
      bar.style.color = (theme && theme.textColor) || (dark ? "#fafafa" : "#31333f");
      bar.style.fontFamily = (theme && theme.font) || "sans-serif";
      bar.style.colorScheme = dark ? "dark" : "light";
      bar.style.setProperty("--accent", (theme && theme.primaryColor) || "#ff4b4b");
      bar.style.setProperty("--line", dark ? "rgba(250,250,250,0.2)" : "rgba(49,51,63,0.2)");
    },
    // The frame being drawn, if any, drawn (Play goes on).
    async settle() {
      while (drawing) await drawing;
    },
    busy: () => drawing !== null || reportTimer !== null,
    // for tests and benchmarks
    state: () => ({ frame: onScreen, pageFrame, playing: timer !== null, interval: interval(),
                    ticks: ticks.slice(), reports }),
  };
})();

// Draw the newest figure; renders that arrive during a draw collapse into one.
//
// One chart per frame: a rerun updates several charts at once (histograms, then
// statistics), each a task of tens of milliseconds on the page's one main thread. The first to get
// its figure draws at once; a chart whose message comes while another chart of the
// page has drawn since the last paint waits for the next paint, so the histograms are
// on screen before the statistics chart starts drawing.
const host = (() => { try { return window.parent.document ? window.parent : window; } catch (e) { return window; } })();

function afterNextPaint(fn) {
  host.requestAnimationFrame(() => host.setTimeout(fn, 0));
}

async function pump() {
  if (drawing) return;
  drawing = true;
  try {
    while (queued) {
      if (isShown(queued)) {
        if (queued.args.player) player_.follow(queued.args.player);
        queued = null;
        continue;
      }
      // Another chart drew in this frame: let the browser paint it first (one frame at
      // most, so a chart removed mid-frame cannot hold the others back).
      if (host.__livechartPainting) await new Promise((resolve) => afterNextPaint(resolve));
      const m = queued;
      queued = null;
      host.__livechartPainting = true;
      afterNextPaint(() => { host.__livechartPainting = false; });
      try {
        await draw(m);
      } catch (err) {
        console.error("bnviz live chart: could not draw the figure", err);
      }
    }
  } finally {
    drawing = false;
  }
}

// The iframe's accessible name: what the chart shows, not the component's name.
function nameFrame(title) {
  try {
    const frame = window.frameElement;
    if (frame && title && frame.getAttribute("title") !== title) {
      frame.setAttribute("title", title);
      frame.setAttribute("aria-label", title);
    }
  } catch (e) { /* another origin: leave the name Streamlit gave */ }
}

// ---------------------------------------------------------------- PNG for slides

let caption = ""; // what the chart shows, from the page (settings and step)
let fileName = "bnviz";

// The chart as shown, at twice its pixels, with the caption (and the player's step) in a
// line of CAPTION_PX under it: the canvas's own image, or Plotly's image export of a copy of
// the layout with one more annotation.
const CAPTION_PX = 28;
async function savePng() {
  const step = bar.hidden ? "" : stepText.textContent;
  const text = [caption, step].filter(Boolean).join(" · ");
  const url = onCanvas ? CanvasChart.toImage(gd, { scale: 2, caption: text, extra: CAPTION_PX, captionSize: 12 })
    : await plotlyPng(text);
  const link = document.createElement("a");
  link.href = url;
  link.download = `${fileName}.png`;
  document.body.appendChild(link);
  link.click();
  link.remove();
}
async function plotlyPng(text) {
  const layout = JSON.parse(JSON.stringify(gd.layout));
  const margin = layout.margin || {};
  layout.margin = { ...margin, b: (margin.b || 40) + CAPTION_PX };
  layout.height = (layout.height || gd.clientHeight) + CAPTION_PX;
  layout.annotations = [...(layout.annotations || []), {
    text, xref: "paper", yref: "paper", x: 0, y: 0, yshift: -(margin.b || 40) - 6, xanchor: "left",
    yanchor: "top", showarrow: false, font: { size: 12 },
  }];
  return Plotly.toImage({ data: gd.data, layout, config: { displayModeBar: false } },
    { format: "png", scale: 2, width: gd.clientWidth, height: layout.height });
}
window.livechartSavePng = savePng; // for the tests
const pngButton = document.getElementById("png");
pngButton.addEventListener("click", savePng);

// ---------------------------------------------------------------- views chosen in the page

// `views` ({from, ref}): `from` is a CSS selector of a select box's text input in the page
// around the chart (same origin), `ref` a file that names, for each option's label, the
// file of the figure that option shows. When the box's value becomes one of those labels
// (a choice made: the box's list is closed), the chart draws that figure at once, as if the
// server had sent it, at the page's frame; the rerun the choice causes then finds it on
// screen. Until the server has written that file (it builds the figures in the background),
// or if anything here fails, the server's figure comes as always: the server decides.
let lastRender = null; // the server's last render message
const viewLists = new Map(); // views file -> {label: figure file}
let watcher = null;
const LIST_RETRY_MS = [250, 500, 1000, 2000, 4000]; // the server may still be building the file

// The views file `ref`, fetched once it is there (null until then); its figures are then
// fetched one by one while the chart is idle, so that a choice costs no request.
async function viewList(ref) {
  if (viewLists.has(ref)) return viewLists.get(ref);
  let list = null;
  try {
    const response = await fetch(ref, { cache: "no-store" }); // not there yet: ask again later
    if (response.ok) list = await response.json();
  } catch (e) { list = null; }
  if (!isObject(list) || viewLists.has(ref)) return viewLists.get(ref) || null;
  viewLists.set(ref, list);
  while (viewLists.size > 2) viewLists.delete(viewLists.keys().next().value);
  prefetch(ref, Object.values(list));
  return list;
}

async function prefetch(ref, figures) {
  for (const figure of figures) {
    while (drawing || queued) await new Promise((resolve) => setTimeout(resolve, 50));
    if (!viewLists.has(ref)) return; // another run's views by now
    if (fetched.has(figure)) continue;
    try { fetched.set(figure, await download(figure)); } catch (e) { return; }
    trimFetched();
  }
}

// After a choice made before the views file was there (the server starts building it on
// such a choice): look for it again a few times, so that the next choice finds it.
const awaiting = new Set(); // views files looked for again
async function awaitList(ref) {
  if (awaiting.has(ref)) return;
  awaiting.add(ref);
  try {
    for (const ms of LIST_RETRY_MS) {
      await new Promise((resolve) => setTimeout(resolve, ms));
      if (!lastRender || !lastRender.args.views || lastRender.args.views.ref !== ref) return;
      if (await viewList(ref)) return;
    }
  } finally {
    awaiting.delete(ref);
  }
}

// The box's value may have changed: draw the view it names. (A MutationObserver's callback
// runs right after the page's handler of the key or click that chose, in the same task, so
// the choice is drawn in the frame that shows the box's new value.)
async function viewChosen() {
  const m = lastRender;
  const views = m && m.args.views;
  if (!views || typeof views.ref !== "string") return;
  let input = null;
  try { input = host.document.querySelector(views.from); } catch (e) { return; }
  if (!input || input.getAttribute("aria-expanded") === "true") return; // still choosing
  const label = input.value;
  const list = await viewList(views.ref);
  if (!list) {
    awaitList(views.ref);
    return;
  }
  const ref = list[label];
  // a figure of this run's views; not if the server has spoken since, or has a figure on its way
  if (typeof ref !== "string" || lastRender !== m || queued) return;
  const player = m.args.player ? { ...m.args.player, active: player_.state().pageFrame } : null;
  const guess = { ...m, args: { ...m.args, figure: undefined, figure_ref: ref, player } };
  if (isShown(guess)) return;
  queued = guess;
  pump();
}

function watchViews() {
  if (watcher || !lastRender || !lastRender.args.views) return;
  try {
    watcher = new host.MutationObserver((records) => {
      const views = lastRender && lastRender.args.views;
      if (views && records.some((r) => r.target.matches && r.target.matches(views.from))) viewChosen();
    });
    watcher.observe(host.document.body, { subtree: true, attributes: true, attributeFilter: ["value", "aria-expanded"] });
  } catch (e) { watcher = null; } // the page is out of reach: the server draws every view
}

window.addEventListener("message", (event) => {
  const m = event.data;
  if (!m || m.type !== "streamlit:render" || !m.args) return;
  if (typeof m.args.figure !== "string" && typeof m.args.figure_ref !== "string") return;
  nameFrame(m.args.title);
  caption = m.args.caption || m.args.title || "";
  fileName = m.args.file_name || "bnviz";
  lastRender = m;
  watchViews();
  queued = m;
  pump();
});

// For tests and benchmarks: is a figure or a frame waiting or being drawn (or none drawn yet)?
// `player()`: the player's frame, the page's, whether it plays, its interval and last ticks.
window.livechart = {
  busy: () => queued !== null || drawing || shownKey === null || rearrangeTimer !== null || player_.busy(),
  player: () => player_.state(),
};

window.addEventListener("resize", rearrangeSoon); // the page's width changes this iframe's too

adoptFonts();
post("streamlit:componentReady", { apiVersion: 1 });
