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
// Streamlit's component protocol (v1), by hand: we post "streamlit:componentReady" and
// "streamlit:setFrameHeight"; Streamlit posts "streamlit:render" with the arguments
// (`figure`: the figure's JSON text; `title`: the chart's accessible name; `player`:
// null or {active, labels, prefix, interval_ms, label}) and the page's theme.
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

const keyOf = (message) =>
  JSON.stringify([message.theme || null, message.args.player || null]) + message.args.figure;
const isShown = (message) => keyOf(message) === shownKey;

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
  const config = { displaylogo: false, responsive: true, ...(fig.config || {}) };
  const frames = fig.frames || [];
  await Plotly.react(gd, { data: fig.data || [], layout, frames: player ? [] : frames, config });
  if (player) player_.load(player, frames);
  shownKey = keyOf(message);
}

// ---------------------------------------------------------------- the player

const bar = document.getElementById("player");
const playButton = document.getElementById("play");
const restartButton = document.getElementById("restart");
const scrub = document.getElementById("scrub");
const stepText = document.getElementById("step");
// a frame is drawn at once, and only its traces and images change (no full redraw)
const JUMP = { mode: "immediate", frame: { duration: 0, redraw: false }, transition: { duration: 0 } };

const player_ = (() => {
  let frames = [];
  let labels = [];
  let prefix = "";
  let interval = 400;
  let onScreen = 0; // the frame drawn last
  let wanted = null; // the frame to draw next (the newest request wins)
  let drawing = null; // the promise of the frame being drawn
  let timer = null; // while playing: the next tick

  const at = () => Number(scrub.value);

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

  function setPlaying(on) {
    playButton.textContent = on ? "❚❚ Pause" : "▶ Play";
    playButton.setAttribute("aria-pressed", String(on));
  }

  function tick() {
    timer = setTimeout(() => {
      if (at() >= frames.length - 1) return pause();
      go(at() + 1);
      tick();
    }, interval);
  }

  function play(from) {
    clearTimeout(timer);
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

  playButton.addEventListener("click", () => (timer === null ? play() : pause()));
  restartButton.addEventListener("click", () => play(0));
  scrub.addEventListener("input", () => { pause(); go(at()); });

  return {
    // New frames (a new figure, drawn at frame `active`): stop playing, forget the old ones.
    load(player, newFrames) {
      frames = newFrames;
      labels = player.labels || newFrames.map((_, i) => String(i));
      prefix = player.prefix || "";
      interval = player.interval_ms || 400;
      onScreen = Math.min(Math.max(player.active || 0, 0), Math.max(frames.length - 1, 0));
      scrub.max = String(Math.max(frames.length - 1, 0));
      scrub.setAttribute("aria-label", player.label || "Frame");
      showLabel(onScreen);
    },
    // Before a new figure: no tick, no frame left to draw.
    async stop() {
      pause();
      wanted = null;
      if (drawing) await drawing;
    },
    style(theme) {
      const dark = !!theme && theme.base === "dark";
      bar.style.color = (theme && theme.textColor) || (dark ? "#fafafa" : "#31333f");
      bar.style.fontFamily = (theme && theme.font) || "sans-serif";
      bar.style.setProperty("--accent", (theme && theme.primaryColor) || "#ff4b4b");
      bar.style.setProperty("--line", dark ? "rgba(250,250,250,0.2)" : "rgba(49,51,63,0.2)");
    },
    busy: () => drawing !== null,
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

window.addEventListener("message", (event) => {
  const m = event.data;
  if (!m || m.type !== "streamlit:render" || !m.args || typeof m.args.figure !== "string") return;
  nameFrame(m.args.title);
  queued = m;
  pump();
});

// For tests and benchmarks: is a figure or a frame waiting or being drawn (or none drawn yet)?
window.livechart = { busy: () => queued !== null || drawing || shownKey === null || player_.busy() };

adoptFonts();
post("streamlit:componentReady", { apiVersion: 1 });
