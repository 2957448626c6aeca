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
// posts "streamlit:render" with the arguments (`figure`: the figure's JSON text; `title`:
// the chart's accessible name; `player`: null or {active, sync, labels, prefix,
// interval_ms, label}) and the page's theme.
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

// What a figure looks like: the theme, the player's options but not where it stands, the figure.
const keyOf = (message) => {
  const player = message.args.player ? { ...message.args.player, active: null, sync: null } : null;
  return JSON.stringify([message.theme || null, player]) + message.args.figure;
};
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

async function draw(message) {
  const theme = message.theme || null;
  const fig = JSON.parse(message.args.figure);
  const player = message.args.player || null;
  const layout = themed(fig.layout || {}, theme);
  await player_.stop(); // the frames are about to change
  player_.style(theme);
  bar.hidden = !player;
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
  const config = {
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
  await Plotly.react(gd, { data: shown.data, layout: shown.layout, frames: player ? [] : frames, config });
  if (player) player_.load(player, frames);
  shownKey = keyOf(message);
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
        await Plotly.animate(gd, frames[k], JUMP);
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

// The chart as shown, at twice its pixels, with the caption (and the player's step) under
// it: Plotly's own image export of a copy of the layout with one more annotation.
async function savePng() {
  const step = bar.hidden ? "" : stepText.textContent;
  const text = [caption, step].filter(Boolean).join(" · ");
  const layout = JSON.parse(JSON.stringify(gd.layout));
  const margin = layout.margin || {};
  layout.margin = { ...margin, b: (margin.b || 40) + 28 };
  layout.height = (layout.height || gd.clientHeight) + 28;
  layout.annotations = [...(layout.annotations || []), {
    text, xref: "paper", yref: "paper", x: 0, y: 0, yshift: -(margin.b || 40) - 6, xanchor: "left",
    yanchor: "top", showarrow: false, font: { size: 12 },
  }];
  const url = await Plotly.toImage({ data: gd.data, layout, config: { displayModeBar: false } },
    { format: "png", scale: 2, width: gd.clientWidth, height: layout.height });
  const link = document.createElement("a");
  link.href = url;
  link.download = `${fileName}.png`;
  document.body.appendChild(link);
  link.click();
  link.remove();
}
window.livechartSavePng = savePng; // for the tests

window.addEventListener("message", (event) => {
  const m = event.data;
  if (!m || m.type !== "streamlit:render" || !m.args || typeof m.args.figure !== "string") return;
  nameFrame(m.args.title);
  caption = m.args.caption || m.args.title || "";
  fileName = m.args.file_name || "bnviz";
  queued = m;
  pump();
});

// For tests and benchmarks: is a figure or a frame waiting or being drawn (or none drawn yet)?
// `player()`: the player's frame, the page's, whether it plays, its interval and last ticks.
window.livechart = {
  busy: () => queued !== null || drawing || shownKey === null || player_.busy(),
  player: () => player_.state(),
};

adoptFonts();
post("streamlit:componentReady", { apiVersion: 1 });
