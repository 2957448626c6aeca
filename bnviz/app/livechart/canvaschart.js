// A figure drawn on a canvas: the part of Plotly's figure format the Explorer's histograms use.
//
// Plotly takes 50-80 ms of the main thread to redraw the histograms (a unit chosen, a
// scrubber step: docs/performance.md); this draws the same figure in a few milliseconds,
// so a unit chosen in the page or a step of the player is on screen in the frame after
// the choice. It draws, from the same JSON the server sends Plotly:
//   - axes: `domain`, `range` (or the data's extent), `matches`, `scaleanchor` with
//     `constrain` ("domain" shrinks the domain, else the range grows), `showgrid`,
//     `showticklabels`; ticks as Plotly picks them (1, 2, 5 × 10^k, about one per 80 px
//     along x and 40 px along y), labels with Plotly's minus sign;
//   - bar traces (`x` or `x0` + `dx`, `y`, `width`; `layout.bargap` of each width), scatter
//     traces with lines (null or NaN breaks the line; `dash` "dot" or "dash"), markers
//     ("line-ns-open" ticks, else dots) and text (`textposition` "top center" or centred);
//   - `layout.images` on axes (below or above the traces, stretched), `layout.annotations`
//     in paper coordinates;
//   - text with <b>, <i>, <sub>, <sup> and <br>;
//   - typed arrays in Plotly's base64 form ({dtype, bdata}).
// A graph element keeps, as Plotly's does, the `data` and `layout` it shows; `textBoxes`
// says where each text was drawn and `axes` each axis's range and span (CSS px in the
// element), for the tests. Hovering a bar
// or a marker shows its x (and a bar's count), as its trace's `hovertemplate` would.
"use strict";

window.CanvasChart = (() => {
  const DTYPES = { f4: Float32Array, f8: Float64Array, u1: Uint8Array, u2: Uint16Array, u4: Uint32Array,
                   i1: Int8Array, i2: Int16Array, i4: Int32Array };
  const MINUS = "\u2212";
  const decoded = new WeakMap(); // {dtype, bdata} -> its typed array

  const isObject = (x) => x !== null && typeof x === "object" && !Array.isArray(x);
  const finite = (v) => v !== null && v !== undefined && Number.isFinite(Number(v));

  function values(v) {
    if (v === null || v === undefined) return [];
    if (Array.isArray(v) || ArrayBuffer.isView(v)) return v;
    if (isObject(v) && typeof v.bdata === "string") {
      let out = decoded.get(v);
      if (!out) {
        const bin = atob(v.bdata);
        const bytes = new Uint8Array(bin.length);
        for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
        const T = DTYPES[v.dtype] || Float64Array;
        out = new T(bytes.buffer, 0, Math.floor(bytes.length / T.BYTES_PER_ELEMENT));
        decoded.set(v, out);
      }
      return out;
    }
    return [];
  }

  // ------------------------------------------------------------------ numbers as Plotly writes them

  const minus = (s) => s.replace(/^-/, MINUS);

  // A tick label: as many decimals as the tick spacing needs, none trailing.
  function tickText(v, dtick) {
    const decimals = Math.max(0, -Math.floor(Math.log10(dtick) + 1e-9));
    let s = Math.abs(v) < dtick * 1e-6 ? "0" : v.toFixed(decimals);
    if (s.includes(".")) s = s.replace(/0+$/, "").replace(/\.$/, "");
    if (Math.abs(v) >= 1e4 && decimals === 0 && v % 1000 === 0) s = `${v / 1000}k`;
    return minus(s);
  }

  // d3's ".3g" without trailing zeros, as Plotly's hover shows %{x:.3g}
  function g3(v) {
    if (!Number.isFinite(v)) return String(v);
    if (v === 0) return "0";
    const e = Math.floor(Math.log10(Math.abs(v)));
    let s = e < -6 || e >= 21 ? v.toExponential(2) : v.toPrecision(3);
    if (s.includes("e")) {
      const [m, x] = s.split("e");
      s = m.replace(/\.?0+$/, "") + "e" + x;
    } else if (s.includes(".")) {
      s = s.replace(/0+$/, "").replace(/\.$/, "");
    }
    return minus(s);
  }

  // Ticks of an axis `len` px long over `range`: Plotly's automatic choice.
  function ticksOf(range, len, letter) {
    const [a, b] = range[0] <= range[1] ? range : [range[1], range[0]];
    if (!(b > a) || !(len > 0)) return { dtick: 1, at: [] };
    const nt = Math.min(Math.max(len / (letter === "y" ? 40 : 80), 4), 9) + 1;
    const rough = (b - a) / nt;
    const base = 10 ** Math.floor(Math.log10(rough));
    const ratio = rough / base;
    const dtick = base * (ratio <= 2 ? 2 : ratio <= 5 ? 5 : 10);
    const at = [];
    for (let k = Math.ceil(a / dtick - 1e-9); k * dtick <= b + dtick * 1e-9; k++) at.push(k * dtick);
    return { dtick, at };
  }

  // ------------------------------------------------------------------ text with a little HTML

  // Lines of runs: [{text, bold, italic, script}] (script: 0, "sub" or "sup").
  function richLines(html) {
    const lines = [[]];
    const state = { bold: 0, italic: 0, sub: 0, sup: 0 };
    const unescape = (s) => s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"')
      .replace(/&#39;/g, "'").replace(/&amp;/g, "&");
    const re = /<(\/?)(b|i|em|strong|sub|sup|br)\s*\/?>/gi;
    let last = 0;
    const push = (text) => {
      if (text) lines[lines.length - 1].push({ text: unescape(text), bold: state.bold > 0, italic: state.italic > 0,
        script: state.sub > 0 ? "sub" : state.sup > 0 ? "sup" : 0 });
    };
    for (let m = re.exec(html); m; m = re.exec(html)) {
      push(html.slice(last, m.index).replace(/<[^>]*>/g, ""));
      last = re.lastIndex;
      const tag = m[2].toLowerCase();
      const step = m[1] ? -1 : 1;
      if (tag === "br") lines.push([]);
      else if (tag === "b" || tag === "strong") state.bold = Math.max(0, state.bold + step);
      else if (tag === "i" || tag === "em") state.italic = Math.max(0, state.italic + step);
      else state[tag] = Math.max(0, state[tag] + step);
    }
    push(html.slice(last).replace(/<[^>]*>/g, ""));
    return lines;
  }

  const plain = (html) => richLines(String(html)).map((l) => l.map((r) => r.text).join("")).join("\n");

  function fontOf(run, size, family) {
    const px = run.script ? Math.round(size * 0.7) : size;
    return `${run.italic ? "italic " : ""}${run.bold ? "bold " : ""}${px}px ${family}`;
  }

  // Draws `html` with its anchor (x: "left" | "center" | "right", y: "top" | "middle" |
  // "bottom") at (x, y); returns its box, and adds it to `record` (if any) with `tag`'s
  // kind and axis.
  function drawText(ctx, html, x, y, xanchor, yanchor, font, record, tag = {}) {
    const lines = richLines(String(html));
    const { size, family, color } = font;
    const lineH = size * 1.3;
    const widths = lines.map((line) => line.reduce((w, run) => {
      ctx.font = fontOf(run, size, family);
      return w + ctx.measureText(run.text).width;
    }, 0));
    const w = Math.max(0, ...widths);
    const h = lines.length * lineH;
    const top = yanchor === "top" ? y : yanchor === "bottom" ? y - h : y - h / 2;
    const left = xanchor === "left" ? x : xanchor === "right" ? x - w : x - w / 2;
    ctx.fillStyle = color;
    ctx.textBaseline = "alphabetic";
    ctx.textAlign = "left";
    lines.forEach((line, i) => {
      let cx = xanchor === "left" ? left : xanchor === "right" ? left + w - widths[i] : left + (w - widths[i]) / 2;
      const base = top + i * lineH + size * 1.0;
      for (const run of line) {
        ctx.font = fontOf(run, size, family);
        const dy = run.script === "sub" ? size * 0.25 : run.script === "sup" ? -size * 0.4 : 0;
        ctx.fillText(run.text, cx, base + dy);
        cx += ctx.measureText(run.text).width;
      }
    });
    const box = { x: left, y: top, w, h, size };
    if (record) record.push({ ...box, text: plain(html), kind: tag.kind || "text", axis: tag.axis || null });
    return box;
  }

  // ------------------------------------------------------------------ axes

  function extentOf(data, id) {
    let lo = Infinity;
    let hi = -Infinity;
    for (const t of data) {
      const letter = id[0];
      if ((t[letter + "axis"] || letter) !== id) continue;
      const vs = letter === "x" && t.x === undefined && finite(t.x0)
        ? [Number(t.x0), Number(t.x0) + (Number(t.dx) || 1) * Math.max(values(t.y).length - 1, 0)]
        : values(t[letter]);
      for (const v of vs) if (finite(v)) { lo = Math.min(lo, Number(v)); hi = Math.max(hi, Number(v)); }
      if (t.type === "bar" && letter === "y") { lo = Math.min(lo, 0); hi = Math.max(hi, 0); }
    }
    if (!(hi >= lo)) return [0, 1];
    const pad = hi > lo ? (hi - lo) * 0.05 : 1;
    return [lo - pad, hi + pad];
  }

  // Every axis of `layout` with its range and its span in px: {id: {letter, spec, range, p0, p1}}.
  function axesOf(data, layout, W, H) {
    const m = { l: 80, r: 80, t: 100, b: 80, ...(layout.margin || {}) };
    const pw = Math.max(W - m.l - m.r, 1);
    const ph = Math.max(H - m.t - m.b, 1);
    const axes = {};
    const keys = Object.keys(layout).filter((k) => /^[xy]axis\d*$/.test(k));
    if (!keys.includes("xaxis")) keys.push("xaxis");
    if (!keys.includes("yaxis")) keys.push("yaxis");
    for (const k of keys) {
      const spec = isObject(layout[k]) ? layout[k] : {};
      const letter = k[0];
      const id = letter + k.slice(5);
      const d = Array.isArray(spec.domain) ? spec.domain : [0, 1];
      const range = Array.isArray(spec.range) && spec.range.every(finite) ? spec.range.map(Number) : extentOf(data, id);
      const [p0, p1] = letter === "x" ? [m.l + d[0] * pw, m.l + d[1] * pw] : [m.t + (1 - d[1]) * ph, m.t + (1 - d[0]) * ph];
      axes[id] = { id, letter, spec, range, p0, p1 };
    }
    for (const a of Object.values(axes)) {
      const other = axes[a.spec.matches];
      if (other && other.letter === a.letter) a.range = other.range.slice();
    }
    for (const a of Object.values(axes)) {
      const b = axes[a.spec.scaleanchor];
      if (!b || b === a) continue;
      const span = (c) => Math.abs(c.range[1] - c.range[0]) || 1;
      const scale = Math.min((a.p1 - a.p0) / span(a), (b.p1 - b.p0) / span(b)); // px per unit, both
      for (const c of [a, b]) {
        const mid = (c.p0 + c.p1) / 2;
        if (c.spec.constrain === "domain") {
          const half = span(c) * scale / 2;
          c.p0 = mid - half;
          c.p1 = mid + half;
        } else {
          const half = (c.p1 - c.p0) / scale / 2;
          const centre = (c.range[0] + c.range[1]) / 2;
          const sign = c.range[1] >= c.range[0] ? 1 : -1;
          c.range = [centre - sign * half, centre + sign * half];
        }
      }
    }
    for (const a of Object.values(axes)) {
      a.drawnDomain = a.letter === "x" ? [(a.p0 - m.l) / pw, (a.p1 - m.l) / pw] : [1 - (a.p1 - m.t) / ph, 1 - (a.p0 - m.t) / ph];
      const [r0, r1] = a.range;
      const k = (a.p1 - a.p0) / ((r1 - r0) || 1);
      a.px = a.letter === "x" ? (v) => a.p0 + (v - r0) * k : (v) => a.p1 - (v - r0) * k;
      a.value = a.letter === "x" ? (p) => r0 + (p - a.p0) / k : (p) => r0 + (a.p1 - p) / k;
    }
    return { axes, margin: m, pw, ph };
  }

  // ------------------------------------------------------------------ images

  const IMAGES_KEPT = 240; // decoded sources (a figure's frames: about 50 each)
  const images = new Map(); // source -> HTMLImageElement (loading or loaded)
  const waiting = new Map(); // source -> elements to redraw once it is loaded

  function image(source, el) {
    let im = images.get(source);
    if (!im) {
      im = new Image();
      im.onload = () => {
        const els = waiting.get(source) || [];
        waiting.delete(source);
        for (const e of els) if (e.__canvasChart && e.__canvasChart.sources.has(source)) redraw(e);
      };
      im.onerror = () => waiting.delete(source);
      im.src = source;
      images.set(source, im);
      while (images.size > IMAGES_KEPT) images.delete(images.keys().next().value);
    }
    if (el && !(im.complete && im.naturalWidth > 0)) {
      if (!waiting.has(source)) waiting.set(source, []);
      if (!waiting.get(source).includes(el)) waiting.get(source).push(el);
    }
    return im;
  }

  // The images of a figure's frames, decoded ahead of the frames being shown.
  function preload(frames) {
    for (const f of frames || []) {
      const ims = f && f.layout && f.layout.images;
      if (Array.isArray(ims)) for (const im of ims) if (im && typeof im.source === "string") image(im.source, null);
    }
  }

  function drawImages(ctx, layout, axes, layer, el, sources) {
    for (const im of layout.images || []) {
      if (!isObject(im) || typeof im.source !== "string" || (im.layer === "below" ? "below" : "above") !== layer) continue;
      const xa = axes[String(im.xref || "").split(" ")[0]];
      const ya = axes[String(im.yref || "").split(" ")[0]];
      if (!xa || !ya) continue;
      sources.add(im.source);
      const pic = image(im.source, el);
      if (!(pic.complete && pic.naturalWidth > 0)) continue;
      const w = Math.abs(xa.px(Number(im.x) + Number(im.sizex)) - xa.px(Number(im.x)));
      const h = Math.abs(ya.px(Number(im.y)) - ya.px(Number(im.y) - Number(im.sizey)));
      let x = xa.px(Number(im.x));
      let y = ya.px(Number(im.y));
      if (im.xanchor === "center") x -= w / 2; else if (im.xanchor === "right") x -= w;
      if (im.yanchor === "middle") y -= h / 2; else if (im.yanchor === "bottom") y -= h;
      ctx.save();
      ctx.beginPath();
      ctx.rect(xa.p0, ya.p0, xa.p1 - xa.p0, ya.p1 - ya.p0);
      ctx.clip();
      ctx.globalAlpha = im.opacity === undefined ? 1 : Number(im.opacity);
      ctx.drawImage(pic, x, y, w, h);
      ctx.restore();
    }
  }

  // ------------------------------------------------------------------ traces

  function barsOf(t, layout) {
    const y = values(t.y);
    const xs = t.x !== undefined ? values(t.x) : null;
    const x0 = Number(t.x0) || 0;
    const dx = finite(t.dx) ? Number(t.dx) : 1;
    const width = (finite(t.width) ? Number(t.width) : dx) * (1 - (finite(layout.bargap) ? Number(layout.bargap) : 0.2));
    const out = [];
    for (let i = 0; i < y.length; i++) {
      const x = xs ? Number(xs[i]) : x0 + i * dx;
      if (finite(x) && finite(y[i])) out.push({ x, y: Number(y[i]), w: width });
    }
    return out;
  }

  const dashOf = (dash, width) => {
    const d = Math.max(width, 3);
    return dash === "dot" ? [d, d] : dash === "dash" ? [3 * d, 3 * d] : dash === "dashdot" ? [3 * d, d, d, d] : [];
  };

  function drawTrace(ctx, t, layout, axes, font, record) {
    if (t.visible === false) return;
    const xa = axes[t.xaxis || "x"];
    const ya = axes[t.yaxis || "y"];
    if (!xa || !ya) return;
    const clip = () => {
      ctx.beginPath();
      ctx.rect(xa.p0, ya.p0, xa.p1 - xa.p0, ya.p1 - ya.p0);
      ctx.clip();
    };
    ctx.save();
    if (t.type === "bar") {
      clip();
      const marker = t.marker || {};
      ctx.fillStyle = marker.color || "#636efa";
      ctx.globalAlpha = finite(marker.opacity) ? Number(marker.opacity) : 1;
      const zero = ya.px(0);
      for (const b of barsOf(t, layout)) {
        const left = xa.px(b.x - b.w / 2);
        const right = xa.px(b.x + b.w / 2);
        const top = ya.px(b.y);
        ctx.fillRect(left, Math.min(top, zero), right - left, Math.abs(zero - top));
      }
      ctx.restore();
      return;
    }
    const mode = t.mode || "lines+markers";
    const xs = values(t.x);
    const ys = values(t.y);
    const n = Math.min(xs.length, ys.length);
    if (mode.includes("lines") && n > 1) {
      clip();
      const line = t.line || {};
      const width = finite(line.width) ? Number(line.width) : 2;
      ctx.strokeStyle = line.color || "#636efa";
      ctx.lineWidth = width;
      ctx.setLineDash(dashOf(line.dash, width));
      ctx.beginPath();
      let pen = false;
      for (let i = 0; i < n; i++) {
        if (!finite(xs[i]) || !finite(ys[i])) { pen = false; continue; }
        const px = xa.px(Number(xs[i]));
        const py = ya.px(Number(ys[i]));
        if (pen) ctx.lineTo(px, py); else ctx.moveTo(px, py);
        pen = true;
      }
      ctx.stroke();
      ctx.restore();
      ctx.save();
    }
    if (mode.includes("markers") && n > 0) {
      if (t.cliponaxis !== false) clip();
      const marker = t.marker || {};
      const size = finite(marker.size) ? Number(marker.size) : 6;
      const symbol = String(marker.symbol || "circle");
      if (symbol.startsWith("line-ns")) {
        const half = size * 0.7; // Plotly's line-ns: 1.4 × the radius either side
        ctx.strokeStyle = (marker.line && marker.line.color) || marker.color || "#636efa";
        ctx.lineWidth = marker.line && finite(marker.line.width) ? Number(marker.line.width) : 1;
        ctx.beginPath();
        for (let i = 0; i < n; i++) {
          if (!finite(xs[i]) || !finite(ys[i])) continue;
          const px = xa.px(Number(xs[i]));
          const py = ya.px(Number(ys[i]));
          ctx.moveTo(px, py - half);
          ctx.lineTo(px, py + half);
        }
        ctx.stroke();
      } else {
        ctx.fillStyle = marker.color || "#636efa";
        ctx.beginPath();
        for (let i = 0; i < n; i++) {
          if (!finite(xs[i]) || !finite(ys[i])) continue;
          const px = xa.px(Number(xs[i]));
          const py = ya.px(Number(ys[i]));
          ctx.moveTo(px + size / 2, py);
          ctx.arc(px, py, size / 2, 0, 2 * Math.PI);
        }
        ctx.fill();
      }
      ctx.restore();
      ctx.save();
    }
    if (mode.includes("text")) {
      const texts = Array.isArray(t.text) ? t.text : [t.text];
      const tf = t.textfont || {};
      const f = { size: finite(tf.size) ? Number(tf.size) : font.size, family: tf.family || font.family,
                  color: tf.color || font.color };
      const pos = String(t.textposition || "middle center");
      const tag = { kind: t.name === "title" ? "title" : "text", axis: ya.id };
      for (let i = 0; i < n; i++) {
        if (texts[i] === undefined || texts[i] === null || texts[i] === "") continue;
        const px = xa.px(Number(xs[i]));
        const py = ya.px(Number(ys[i]));
        const yanchor = pos.startsWith("top") ? "bottom" : pos.startsWith("bottom") ? "top" : "middle";
        const xanchor = pos.endsWith("left") ? "right" : pos.endsWith("right") ? "left" : "center";
        drawText(ctx, texts[i], px, py + (yanchor === "bottom" ? -3 : yanchor === "top" ? 3 : 0), xanchor, yanchor, f, record, tag);
      }
    }
    ctx.restore();
  }

  // ------------------------------------------------------------------ the figure

  // Draws the figure on `ctx` (CSS px; `W` × `H`); returns the text boxes and the axes.
  function paint(ctx, data, layout, W, H, el, sources) {
    const font = { size: 12, color: "#444", family: "sans-serif", ...(layout.font || {}) };
    const { axes, margin, pw, ph } = axesOf(data, layout, W, H);
    const record = [];
    ctx.clearRect(0, 0, W, H);
    const bg = layout.paper_bgcolor;
    if (bg && bg !== "rgba(0,0,0,0)" && bg !== "transparent") {
      ctx.fillStyle = bg;
      ctx.fillRect(0, 0, W, H);
    }
    drawImages(ctx, layout, axes, "below", el, sources);
    // grid lines, then the traces, then what lies above them
    const ticks = {};
    for (const a of Object.values(axes)) {
      ticks[a.id] = ticksOf(a.range, Math.abs(a.p1 - a.p0), a.letter);
      if (a.spec.showgrid === false || a.spec.visible === false) continue;
      const other = axes[a.spec.anchor] || axes[a.letter === "x" ? "y" : "x"];
      if (!other) continue;
      ctx.strokeStyle = a.spec.gridcolor || "#eee";
      ctx.lineWidth = 1;
      ctx.beginPath();
      for (const v of ticks[a.id].at) {
        const p = Math.round(a.px(v)) + 0.5;
        if (a.letter === "x") { ctx.moveTo(p, other.p0); ctx.lineTo(p, other.p1); }
        else { ctx.moveTo(other.p0, p); ctx.lineTo(other.p1, p); }
      }
      ctx.stroke();
    }
    for (const t of data) if (isObject(t)) drawTrace(ctx, t, layout, axes, font, record);
    drawImages(ctx, layout, axes, "above", el, sources);
    const tick = { kind: "tick" };
    for (const a of Object.values(axes)) {
      if (a.spec.showticklabels === false || a.spec.visible === false) continue;
      const other = axes[a.spec.anchor] || axes[a.letter === "x" ? "y" : "x"];
      if (!other) continue;
      const f = { ...font, ...(a.spec.tickfont || {}) };
      for (const v of ticks[a.id].at) {
        const text = tickText(v, ticks[a.id].dtick);
        if (a.letter === "x") drawText(ctx, text, a.px(v), other.p1 + 3, "center", "top", f, record, tick);
        else drawText(ctx, text, other.p0 - 4, a.px(v), "right", "middle", f, record, tick);
      }
    }
    for (const an of layout.annotations || []) {
      if (!isObject(an) || an.visible === false) continue;
      const paperX = (an.xref || "paper") === "paper";
      const paperY = (an.yref || "paper") === "paper";
      const xa = axes[String(an.xref).split(" ")[0]];
      const ya = axes[String(an.yref).split(" ")[0]];
      const x = (paperX ? margin.l + Number(an.x) * pw : xa ? xa.px(Number(an.x)) : 0) + (Number(an.xshift) || 0);
      const y = (paperY ? margin.t + (1 - Number(an.y)) * ph : ya ? ya.px(Number(an.y)) : 0) - (Number(an.yshift) || 0);
      const f = { ...font, ...(an.font || {}) };
      const xanchor = an.xanchor && an.xanchor !== "auto" ? an.xanchor : "center";
      const yanchor = an.yanchor && an.yanchor !== "auto" ? an.yanchor : "middle";
      drawText(ctx, an.text || "", x, y, xanchor, yanchor, f, record, { kind: "annotation" });
    }
    return { record, axes };
  }

  function redraw(el) {
    const st = el.__canvasChart;
    if (!st || !el.layout) return;
    const W = Math.max(el.clientWidth, 1);
    const H = Math.max(Number(el.layout.height) || 450, 1);
    const dpr = window.devicePixelRatio || 1;
    const canvas = st.canvas;
    if (canvas.width !== Math.round(W * dpr) || canvas.height !== Math.round(H * dpr)) {
      canvas.width = Math.round(W * dpr);
      canvas.height = Math.round(H * dpr);
    }
    canvas.style.width = `${W}px`;
    canvas.style.height = `${H}px`;
    el.style.height = `${H}px`;
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    st.sources = new Set();
    const { record, axes } = paint(ctx, el.data || [], el.layout, W, H, el, st.sources);
    st.axes = axes;
    el.axes = Object.fromEntries(Object.values(axes).map((a) => [a.id, {
      range: a.range.slice(), px: [a.p0, a.p1], domain: a.drawnDomain, anchor: a.spec.anchor || null }]));
    st.width = W;
    st.dpr = dpr;
    el.textBoxes = record;
    const titles = record.filter((r) => r.kind === "title" || r.kind === "annotation").map((r) => r.text.replace(/\n/g, ", "));
    canvas.setAttribute("aria-label", titles.join("; "));
  }

  // ------------------------------------------------------------------ hover

  function hoverText(el, ex, ey) {
    const st = el.__canvasChart;
    if (!st || !st.axes) return null;
    let best = null;
    for (const t of el.data || []) {
      if (!isObject(t) || t.hoverinfo === "skip" || t.visible === false) continue;
      const xa = st.axes[t.xaxis || "x"];
      const ya = st.axes[t.yaxis || "y"];
      if (!xa || !ya || ex < xa.p0 || ex > xa.p1 || ey < ya.p0 || ey > ya.p1) continue;
      if (t.type === "bar") {
        const v = xa.value(ex);
        for (const b of barsOf(t, el.layout)) {
          const top = ya.px(b.y);
          const zero = ya.px(0);
          if (Math.abs(v - b.x) <= b.w / 2 && ey >= Math.min(top, zero) - 2 && ey <= Math.max(top, zero) + 2) {
            return `${g3(b.x)}: ${Math.round(b.y)}`;
          }
        }
      } else if ((t.mode || "").includes("markers")) {
        const xs = values(t.x);
        const ys = values(t.y);
        for (let i = 0; i < Math.min(xs.length, ys.length); i++) {
          if (!finite(xs[i]) || !finite(ys[i])) continue;
          const d = Math.hypot(xa.px(Number(xs[i])) - ex, ya.px(Number(ys[i])) - ey);
          if (d < 8 && (!best || d < best.d)) best = { d, text: `${g3(Number(xs[i]))} ${t.name || ""}`.trim() };
        }
      }
    }
    return best ? best.text : null;
  }

  function showHover(el, event) {
    const st = el.__canvasChart;
    const box = st.canvas.getBoundingClientRect();
    const ex = event.clientX - box.left;
    const ey = event.clientY - box.top;
    const text = hoverText(el, ex, ey);
    const tip = st.tip;
    if (!text) { tip.hidden = true; return; }
    const hl = (el.layout && el.layout.hoverlabel) || {};
    tip.textContent = text;
    tip.style.background = hl.bgcolor || "#fff";
    tip.style.borderColor = hl.bordercolor || "#ccc";
    tip.style.color = (hl.font && hl.font.color) || "#222";
    tip.style.fontFamily = (el.layout.font && el.layout.font.family) || "sans-serif";
    tip.hidden = false;
    const left = Math.min(ex + 12, Math.max(st.width - tip.offsetWidth - 4, 0));
    tip.style.left = `${left}px`;
    tip.style.top = `${Math.max(ey - tip.offsetHeight - 8, 0)}px`;
  }

  // ------------------------------------------------------------------ the element

  function mount(el) {
    if (el.__canvasChart) return el.__canvasChart;
    el.innerHTML = "";
    el.classList.add("canvaschart");
    el.style.position = "relative";
    const canvas = document.createElement("canvas");
    canvas.setAttribute("role", "img");
    canvas.style.display = "block";
    const tip = document.createElement("div");
    tip.className = "canvaschart-tip";
    tip.hidden = true;
    tip.setAttribute("aria-hidden", "true");
    Object.assign(tip.style, { position: "absolute", pointerEvents: "none", padding: "2px 6px", border: "1px solid",
                               borderRadius: "3px", fontSize: "14px", whiteSpace: "nowrap" });
    el.append(canvas, tip);
    const st = { canvas, tip, sources: new Set(), axes: null, width: 0, dpr: 0 };
    el.__canvasChart = st;
    canvas.addEventListener("mousemove", (e) => showHover(el, e));
    canvas.addEventListener("mouseleave", () => { tip.hidden = true; });
    new ResizeObserver(() => {
      if (el.clientWidth !== st.width || (window.devicePixelRatio || 1) !== st.dpr) redraw(el);
    }).observe(el);
    if (document.fonts) {
      document.fonts.ready.then(() => redraw(el));
      document.fonts.addEventListener("loadingdone", () => redraw(el));
    }
    return st;
  }

  return {
    // Show `data` and `layout` on `el` (what Plotly.react would show there).
    react(el, { data, layout }) {
      mount(el);
      el.data = data || [];
      el.layout = layout || {};
      redraw(el);
    },
    preload,
    // Forget the canvas (the element becomes a plain div again).
    purge(el) {
      if (!el.__canvasChart) return;
      el.innerHTML = "";
      el.classList.remove("canvaschart");
      el.style.height = "";
      delete el.__canvasChart;
      delete el.data;
      delete el.layout;
      delete el.textBoxes;
      delete el.axes;
    },
    // A PNG (data URL) of what `el` shows at `scale` times its pixels, `extra` CSS px taller,
    // with `caption` written in them under the figure.
    toImage(el, { scale = 2, caption = "", extra = 0, captionSize = 12 } = {}) {
      const W = Math.max(el.clientWidth, 1);
      const H = Math.max(Number(el.layout.height) || 450, 1);
      const canvas = document.createElement("canvas");
      canvas.width = Math.round(W * scale);
      canvas.height = Math.round((H + extra) * scale);
      const ctx = canvas.getContext("2d");
      ctx.setTransform(scale, 0, 0, scale, 0, 0);
      const layout = el.layout; // a transparent background, as Plotly's export of the same layout
      paint(ctx, el.data || [], layout, W, H, null, new Set());
      if (caption) {
        const font = { size: captionSize, color: (layout.font && layout.font.color) || "#444",
                       family: (layout.font && layout.font.family) || "sans-serif" };
        drawText(ctx, caption.replace(/</g, "&lt;"), 8, H + 4, "left", "top", font, null);
      }
      return canvas.toDataURL("image/png");
    },
    // for tests
    values,
    ticksOf,
    tickText,
  };
})();
