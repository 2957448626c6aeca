"""Lessons: the shipped lessons, a step opened from its link, and a teacher's own lesson file.

``/lesson?name=<lesson>&step=<n>`` opens step n on its own page (``st.switch_page`` with
the step's query plus ``lesson`` and ``step``, which ``bnviz.app.lesson.bar`` reads);
``/lesson?name=<lesson>`` lists its steps; ``/lesson`` lists the lessons, checks an
uploaded lesson file and turns the views collected with "add this view to my lesson"
into one to download.
"""

from __future__ import annotations

import html
from urllib.parse import urlencode

import streamlit as st

from bnviz import lessons
from bnviz.app import lesson as lesson_ui
from bnviz.app import ui

# The page file each lesson page name opens (the keys of lessons.PAGES).
FILES = {
    "explorer": "explorer.py",
    "sweep": "sweep.py",
    "glass-box": "teach_glass_box.py",
    "bias": "teach_bias.py",
    "covariate-shift": "teach_covariate_shift.py",
    "noise": "teach_noise.py",
    "test-time": "teach_test_time.py",
    "conventions": "teach_conventions.py",
    "folding": "teach_folding.py",
    "why": "teach_why.py",
}
PAGES = "bnviz/app/pages"


def _link(href: str, text: str) -> str:
    return f'<a href="{html.escape(href)}" target="_self">{html.escape(text)}</a>'


def _show_error(err: lessons.LessonError) -> None:
    where = f"line {err.line}" if err.line is not None else "the file"
    st.error(f"**{err.source}**, {where}: {err.message}", icon=":material/error:")


def _open_step(lesson: lessons.Lesson, raw_step: str) -> None:
    n = int(raw_step) if raw_step.isdigit() else 1
    n = min(max(n, 1), len(lesson.steps))
    step = lesson.steps[n - 1]
    query = {**dict(step.query), lessons.LESSON_PARAM: lesson.name, lessons.STEP_PARAM: str(n)}
    if ui.presenting():
        query[ui.PRESENT_PARAM] = "1"
    st.switch_page(f"{PAGES}/{FILES[step.page]}", query_params=query)


def _lesson_index(lesson: lessons.Lesson) -> None:
    st.title(lesson.title)
    if lesson.description:
        st.markdown(lesson.description)
    keep = f"&{ui.PRESENT_PARAM}=1" if ui.presenting() else ""  # the steps open in presenter mode too
    rows = [f"{i + 1}. {_link(lessons.step_url(lesson, i) + keep, s.title)} — {html.escape(s.question)}"
            for i, s in enumerate(lesson.steps)]
    st.markdown("\n".join(rows), unsafe_allow_html=True)
    st.markdown(_link(lessons.step_url(lesson, 0) + keep, "▶ Start the lesson"), unsafe_allow_html=True)
    st.caption("In a lesson, → and ← (or the Next / Previous links) move between steps; every "
               "step's link opens that step. `?present=1` hides the sidebar for a projector.")


def _my_lesson() -> None:
    st.subheader("My lesson")
    views = st.session_state.get(lesson_ui.COLLECTED, [])
    if not views:
        st.markdown("On any page, **Add this view to my lesson** in the sidebar collects that page with "
                    "its settings. Collected views appear here, ready to narrate and download.")
        return
    title = st.text_input("Lesson title", value="My Batch Normalization lesson", key="my_title")
    for i, v in enumerate(views):
        with st.expander(f"Step {i + 1}: {v['page']}" + (f" · {v['title']}" if v["title"] else ""),
                         expanded=not v["title"]):
            st.code(f"/{lessons.PAGES[v['page']]}?{v['query']}", language=None)
            v["title"] = st.text_input("Title", v["title"], key=f"my_t{i}")
            v["text"] = st.text_area("One to three sentences", v["text"], key=f"my_x{i}", height=80)
            v["question"] = st.text_input("A question to ask the class", v["question"], key=f"my_q{i}")
    text = lessons.to_toml(title, views)
    try:
        lessons.parse(text, "my-lesson")
    except lessons.LessonError as err:
        st.info(f"Not a complete lesson yet: {err.message}.", icon=":material/edit_note:")
    st.download_button("Download my lesson (TOML)", text, file_name="my-lesson.toml", mime="application/toml",
                       on_click="ignore", icon=":material/download:", key="my_download")
    if st.button("Clear the collected views", key="my_clear"):
        st.session_state[lesson_ui.COLLECTED] = []
        st.rerun()


def _check_upload() -> None:
    st.subheader("Check a lesson file")
    up = st.file_uploader("A lesson file (.toml)", type=["toml"], key="lesson_upload",
                          help="Checked here, never stored. To use it in class, put it in the "
                               "app's lessons/ folder: its steps then have links.")
    if up is None:
        return
    raw = up.getvalue()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        st.error(f"**{up.name}** is not UTF-8 text.", icon=":material/error:")
        return
    try:
        lesson = lessons.parse(text, "uploaded", up.name)
    except lessons.LessonError as err:
        _show_error(err)
        return
    st.success(f"**{up.name}** is a valid lesson: “{lesson.title}”, {len(lesson.steps)} steps.",
               icon=":material/check_circle:")
    for i, s in enumerate(lesson.steps):
        st.markdown(f"{i + 1}. **{s.title}** ({s.page}) — {s.question}")


q = st.query_params
name = str(q.get("name", "")).strip()
if name:
    chosen: lessons.Lesson | None = None
    try:
        chosen = lessons.load(name)
    except lessons.LessonError as err:
        _show_error(err)
    if chosen is not None:
        if "step" in q:
            _open_step(chosen, str(q["step"]))
        _lesson_index(chosen)
        st.stop()

st.title("Lessons")
st.markdown("A lesson walks a class through prepared views of bnviz, one step at a time: each step "
            "opens a page with its settings, a few sentences to read and a question to ask.")
for n in lessons.names():
    try:
        shipped = lessons.load(n)
    except lessons.LessonError as err:
        _show_error(err)
        continue
    st.markdown(f"**{_link('/lesson?' + urlencode({'name': n}), shipped.title)}** · "
                f"{len(shipped.steps)} steps  \n{html.escape(shipped.description)}", unsafe_allow_html=True)
with st.expander("The lesson file format"):
    st.code(lessons.EXAMPLE, language="toml")
    st.markdown(f"Pages: {', '.join(f'`{p}`' for p in lessons.PAGES)}. A step's `query` is the part after "
                "`?` of that page's link (copy it from the address bar). A step's `control` names the "
                "settings to move, one name or a list; presenter mode draws exactly those above the charts: "
                f"{', '.join(f'`{c}`' for c in lessons.CONTROLS)}. `hint` is words for the bar, e.g. "
                "for a control of the page itself (the glass-box table, the bias view's δ).")
_my_lesson()
_check_upload()
