"""A lesson in the app: the bar above a lesson step's page, and "add this view to my lesson".

A lesson step opens its page with ``lesson=<name>&step=<n>`` added to the view's query
(``bnviz.lessons.step_url``). :func:`bar`, drawn by ``app.py`` above every page, shows
that step's title, narration, question and the settings to move, with Previous / Next
links to the neighbouring steps' URLs. They are plain links, so each step starts from its
own URL as a copied link would, and → / ← press them (:data:`KEYS`). In presenter mode
the step's settings (its ``control``) are drawn under the bar, above the page's charts,
through ``ui.controls_above``: the sidebar is hidden there. :func:`collector` keeps the
views a teacher adds in this session, for the lesson page to download as a lesson file.
"""

from __future__ import annotations

import html
from urllib.parse import urlencode

import streamlit as st
import streamlit.components.v1 as components

from .. import lessons
from ..settings import Settings
from . import ui
from .ui import PRESENT_PARAM, presenting

COLLECTED = "lesson_collected"  # session key: the views added with "add this view"
# → / ← follow the lesson bar's Next / Previous links and Space plays / pauses the
# histograms, unless the focus is in a text box, a slider or a select (whose keys must
# keep working). The listener is put on the page once (the iframe of this snippet is on
# the same origin as the app).
KEYS = """<script>
const doc = window.parent.document;
if (!doc.bnvizLessonKeys) {
  doc.bnvizLessonKeys = true;
  doc.addEventListener("keydown", (e) => {
    if (e.altKey || e.ctrlKey || e.metaKey || e.shiftKey) return;
    const el = doc.activeElement;
    const tag = el ? el.tagName : "";
    if (["INPUT", "TEXTAREA", "SELECT"].includes(tag) || (el && el.getAttribute("role") === "slider")) return;
    if (e.key === " " && !["BUTTON", "A"].includes(tag)) {
      // Space: Play / Pause of the first chart with a player (its iframe is same-origin)
      for (const frame of doc.querySelectorAll("iframe")) {
        const play = frame.contentDocument && frame.contentDocument.getElementById("play");
        if (play && !play.closest("[hidden]")) { e.preventDefault(); play.click(); return; }
      }
      return;
    }
    const which = {ArrowRight: "next", ArrowLeft: "previous"}[e.key];
    const link = which && doc.querySelector(`a[data-lesson-nav="${which}"]`);
    if (link) { e.preventDefault(); link.click(); }
  });
}
</script>"""


# Every page: a visible keyboard focus. On a phone (narrower than Streamlit's 768 px
# breakpoint, where its sidebar covers the page), the opened sidebar is a bottom sheet of
# 45 % of the height: the top of the page stays in view above it, so a student moves a
# slider and sees the chart it changes; the page gets room at its end to scroll its last
# chart above the sheet.
PAGE_CSS = """<style>
/* Focus from the keyboard, where Streamlit shows hardly any (a page link's slightly darker
   background, a toggle's faint one) and on this app's own links and charts' toolbars: an
   outline in Okabe-Ito blue, 3:1 or more on light and dark backgrounds. */
[data-testid="stSidebarNavLink"]:focus-visible, .bnviz-lesson-nav:focus-visible, .bnviz-leave:focus-visible,
label:has(input[type="checkbox"]:focus-visible),
.js-plotly-plot .plotly .modebar-btn:focus-visible {
  outline: 2px solid #0072B2 !important; outline-offset: 2px; border-radius: 0.3rem;
}
.js-plotly-plot .plotly:focus-within .modebar-group {opacity: 1 !important;}  /* shown while a key is in it */
@media (max-width: 767.98px) {
  section[data-testid="stSidebar"][data-collapsed="false"] {
    position: fixed !important; inset: auto 0 0 0 !important;
    width: 100vw !important; min-width: 100vw !important; max-width: 100vw !important;
    height: 45vh !important; transform: none !important;
    border-top: 1px solid rgba(128, 128, 128, 0.45); border-radius: 0.9rem 0.9rem 0 0;
    box-shadow: 0 -6px 18px rgba(0, 0, 0, 0.2);
  }
  section[data-testid="stSidebar"][data-collapsed="false"] [data-testid="stSidebarContent"] {
    height: 100% !important; overflow-y: auto;
  }
  .stApp:has(section[data-testid="stSidebar"][data-collapsed="false"]) [data-testid="stMainBlockContainer"] {
    padding-bottom: 46vh !important;
  }
}
</style>"""
# Presenter mode: no sidebar (nor its open/close control), no toolbar, larger text for a projector.
PRESENT_CSS = """<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stExpandSidebarButton"]
  {display: none !important;}
[data-testid="stHeader"] {display: none !important;}
[data-testid="stMainBlockContainer"] {font-size: 1.15rem; max-width: 100% !important;
  padding-top: 1.2rem !important;}
.bnviz-leave {position: fixed; top: 0.75rem; right: 4rem; z-index: 1000000; font-size: 0.85rem;}
</style>"""


def presenter() -> None:
    """The page chrome: :data:`PAGE_CSS` on every page; presenter mode's (no sidebar, larger
    text, a way out) when the URL asks for it."""
    st.html(PAGE_CSS)  # styles only: Streamlit gives it no room on the page
    if not presenting():
        return
    st.markdown(PRESENT_CSS, unsafe_allow_html=True)
    off = {k: v for k, v in st.query_params.to_dict().items() if k != PRESENT_PARAM}
    # a link relative to this page: the same path, the query without present
    href = "?" + html.escape(urlencode(off))
    st.markdown(f'<a class="bnviz-leave" href="{href}" target="_self">Leave presenter mode</a>',
                unsafe_allow_html=True)
    components.html(KEYS, height=0)


def sidebar_tools(page_path: str) -> None:
    """Under the page's own sidebar controls: into presenter mode, and "add this view"."""
    if presenting():
        _unplaced_controls()
        return
    st.sidebar.divider()
    if st.sidebar.button("Presenter mode", icon=":material/co_present:", key="present_on",
                         help="Hide this sidebar and enlarge the text for a projector "
                              "(?present=1 in the link)."):
        st.query_params[PRESENT_PARAM] = "1"
        st.rerun()
    collector(page_path)


def current() -> tuple[lessons.Lesson, int] | str | None:
    """The lesson and step index the URL names; a message when it names a broken one."""
    q = st.query_params
    if lessons.LESSON_PARAM not in q:
        return None
    name = str(q[lessons.LESSON_PARAM])
    try:
        lesson = lessons.load(name)
    except lessons.LessonError as err:
        return str(err)
    raw = str(q.get(lessons.STEP_PARAM, "1"))
    n = int(raw) if raw.isdigit() else 1
    return lesson, min(max(n, 1), len(lesson.steps)) - 1


def _nav_link(href: str | None, text: str, which: str) -> str:
    if href is None:
        return f'<span class="bnviz-lesson-nav off" aria-disabled="true">{text}</span>'
    return (f'<a class="bnviz-lesson-nav" data-lesson-nav="{which}" href="{html.escape(href)}" '
            f'target="_self">{text}</a>')


CSS = """<style>
.bnviz-lesson {border-left: 4px solid #0072B2; padding: 0.35rem 0.9rem; margin-bottom: 0.4rem;
  background: rgba(0, 114, 178, 0.08); border-radius: 0.4rem;}
.bnviz-lesson .head {display: flex; justify-content: space-between; align-items: center; gap: 1rem;
  flex-wrap: wrap;}
.bnviz-lesson .where {font-size: 0.9rem; opacity: 0.8;}
.bnviz-lesson p {margin: 0.15rem 0;}
.bnviz-lesson .title {font-size: 1.25rem; font-weight: 700; margin-right: 0.4rem;}
.bnviz-lesson-navs {display: flex; gap: 0.5rem;}
.bnviz-lesson-nav {display: inline-block; padding: 0.1rem 0.7rem; border: 1px solid currentColor;
  border-radius: 0.4rem; text-decoration: none !important; white-space: nowrap;}
.bnviz-lesson-nav.off {opacity: 0.4;}
</style>"""


def bar() -> None:
    """The lesson step the URL names, above the page: nothing when the URL names none."""
    ui.controls_above(None)  # every setting in the sidebar, unless a step says otherwise below
    found = current()
    if found is None:
        return
    if isinstance(found, str):
        st.warning(f"This link names a lesson that cannot be shown: {found}", icon=":material/school:")
        return
    lesson, i = found
    step = lesson.steps[i]
    keep = f"&{PRESENT_PARAM}=1" if presenting() else ""  # Next / Previous stay in presenter mode
    prev = lessons.step_url(lesson, i - 1) + keep if i > 0 else None
    nxt = lessons.step_url(lesson, i + 1) + keep if i + 1 < len(lesson.steps) else None
    move = [Settings.spec(n).label for n in step.controls] + ([step.hint] if step.hint else [])
    control = f" · <b>Move:</b> {html.escape(' · '.join(move))}" if move else ""
    navs = (_nav_link(prev, "← Previous", "previous") + _nav_link(nxt, "Next →", "next")
            + _nav_link("/lesson?" + urlencode({"name": lesson.name}) + keep, "All steps", "index"))
    st.markdown(
        CSS + f'<div class="bnviz-lesson" role="region" aria-label="Lesson step">'
        f'<div class="head"><span class="where">{html.escape(lesson.title)} · step {i + 1} of '
        f'{len(lesson.steps)}</span><span class="bnviz-lesson-navs">{navs}</span></div>'
        f'<p><span class="title">{html.escape(step.title)}</span> {html.escape(step.text)}</p>'
        f"<p><b>Ask the class:</b> {html.escape(step.question)}{control}</p></div>",
        unsafe_allow_html=True,
    )
    if not presenting():  # presenter() puts the keys on the page already
        components.html(KEYS, height=0)
    elif step.controls:  # the sidebar is hidden: the step's settings go here, above the charts
        ui.controls_above(st.container(key="lesson_controls"), step.controls)


def _unplaced_controls() -> None:
    """After the page: name the step's settings the page did not draw (it has no such setting)."""
    found = current()
    if not isinstance(found, tuple) or not found[0].steps[found[1]].controls:
        return
    container, missing = ui.controls_missing()
    if container is not None and missing:
        container.caption("Not a setting of this page: " + ", ".join(Settings.spec(n).label for n in missing))


def collector(page_path: str) -> None:
    """The sidebar's "add this view to my lesson": the page and its current query."""
    page = next((name for name, path in lessons.PAGES.items() if path == page_path), None)
    if page is None:
        return
    if st.sidebar.button("Add this view to my lesson", icon=":material/playlist_add:", key="lesson_add",
                         help="Collect this page with its settings; the Lessons page downloads "
                              "what you collected as a lesson file."):
        query = {k: v for k, v in st.query_params.to_dict().items()
                 if k not in (lessons.LESSON_PARAM, lessons.STEP_PARAM)}
        st.session_state.setdefault(COLLECTED, []).append(
            {"page": page, "query": urlencode(query), "title": "", "text": "", "question": ""})
    n = len(st.session_state.get(COLLECTED, []))
    if n:
        st.sidebar.caption(f"{n} view{'s' if n > 1 else ''} collected: see **Lessons**.")
