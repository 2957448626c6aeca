// One Plotly chart inside a Streamlit component that stays mounted across reruns.
//
// st.plotly_chart gives a chart whose figure changed a new element id, so the browser
// throws the old chart away and draws the new one from scratch. Here the iframe and its
// graph div live as long as the page: a new figure is a Plotly.react on the same div,
// which redraws only what changed.
//
// Streamlit's component protocol (v1), by hand: we post "streamlit:componentReady" and
// "streamlit:setFrameHeight"; Streamlit posts "streamlit:render" with the arguments
// (`figure`: the figure's JSON text; `title`: the chart's accessible name) and the
// page's theme.
"use strict";

const gd = document.getElementById("chart");
const post = (type, body) =>
  window.parent.postMessage({ isStreamlitMessage: true, type, ...body }, "*");

let shownText = null; // the figure JSON drawn last
let shownTheme = null; // and the theme it was drawn in
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
  if (layout.sliders) {
    out.sliders = layout.sliders.map((s) => ({
      bgcolor: face, bordercolor: grid, activebgcolor: text, ...s,
    }));
  }
  if (layout.updatemenus) {
    out.updatemenus = layout.updatemenus.map((u) => ({
      bgcolor: face, bordercolor: grid, ...u, font: { color: text, ...(u.font || {}) },
    }));
  }
  out.autosize = true;
  delete out.width; // the iframe's width, followed on resize (config.responsive)
  return out;
}

const isShown = (message) =>
  message.args.figure === shownText && JSON.stringify(message.theme || null) === shownTheme;

async function draw(message) {
  const text = message.args.figure;
  const theme = message.theme || null;
  const themeKey = JSON.stringify(theme);
  const fig = JSON.parse(text);
  const layout = themed(fig.layout || {}, theme);
  if (layout.height !== height) {
    height = layout.height;
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
  await Plotly.react(gd, { data: fig.data || [], layout, frames: fig.frames || [], config });
  shownText = text;
  shownTheme = themeKey;
}

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

// Plotly rejects the promise of an animation that another one interrupts (Pause, a
// scrubber click during Play) and its own buttons do not catch it: not an error here.
window.addEventListener("unhandledrejection", (event) => {
  if (event.reason === undefined) event.preventDefault();
});

// For tests and benchmarks: is a figure waiting or being drawn (or none drawn yet)?
window.livechart = { busy: () => queued !== null || drawing || shownText === null };

adoptFonts();
post("streamlit:componentReady", { apiVersion: 1 });
