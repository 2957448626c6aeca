"""Lessons: an ordered list of views of the app, each with a few sentences and a question.

A lesson is a small TOML file in ``lessons/`` (its name is the file name without
``.toml``), written as :data:`EXAMPLE` shows. :func:`parse` checks everything a teacher
can get wrong and raises :class:`LessonError` with the line and what is wrong: TOML
syntax, unknown or missing keys, an unknown page, a query that is not ``key=value&...``
or whose settings are not valid values, more than three sentences, a ``control`` that
is not the name of a setting. Nothing here draws:
the app shows a lesson step as a bar above the page its step names, and the URL of that
page (:func:`step_url`) holds the lesson's name and the step, so a copied link opens the
same step.

A step's ``control`` names the settings to move, by their :class:`Settings` field names
(``control = "batch_size"`` or ``control = ["gamma_init", "beta_init"]``): in presenter
mode the app draws exactly those widgets above the charts. A control that belongs to the
page itself and is no setting (the glass-box table, the bias view's shift δ) is drawn on
the page anyway; ``hint`` points at it in words.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from .settings import Settings

EXAMPLE = """\
title = "Batch Normalization in 20 minutes"
description = "One line for the list of lessons."   # optional

[[steps]]
page = "explorer"                       # one of PAGES
query = "dataset=circles&depth=4"       # the view's permalink query (optional)
title = "Normalizing a hidden layer"
text = "One to three sentences the teacher reads out or the class reads."
question = "What should the class answer?"
control = "batch_size"                  # optional: the setting(s) to move, by name
hint = "then watch the Z_norm panel"    # optional: words for the bar (a page's own control)
"""
LESSONS_DIR = Path(__file__).resolve().parent.parent / "lessons"
# The pages a step may name, and their URL paths ("" = the app's root, the Explorer).
PAGES = {
    "explorer": "",
    "sweep": "sweep",
    "glass-box": "glass-box",
    "bias": "bias",
    "covariate-shift": "covariate-shift",
    "noise": "noise",
    "test-time": "test-time",
    "conventions": "conventions",
    "folding": "folding",
    "why": "why",
}
LESSON_KEYS = {"title", "description", "steps"}
STEP_KEYS = {"page", "query", "title", "text", "question", "control", "hint"}
CONTROLS = tuple(f.name for f in fields(Settings))  # what a step's control may name
REQUIRED_STEP_KEYS = ("page", "title", "text", "question")
MAX_SENTENCES = 3
MAX_STEPS = 40
MAX_BYTES = 64_000  # a lesson file is a page of text; anything longer is not one
# URL keys the lesson itself uses on the page a step opens.
LESSON_PARAM, STEP_PARAM = "lesson", "step"
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_SENTENCE_END = re.compile(r"[.!?](?=\s+[A-Z0-9(\"“]|\s*$)")


class LessonError(ValueError):
    """A lesson file that cannot be used: ``line`` (1-based, None when unknown) and why."""

    def __init__(self, message: str, line: int | None = None, source: str = "lesson") -> None:
        self.line, self.message, self.source = line, message, source
        where = f"{source}, line {line}" if line is not None else source
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Step:
    page: str  # a key of PAGES
    query: tuple[tuple[str, str], ...]  # the view's URL query, in order
    title: str
    text: str
    question: str
    controls: tuple[str, ...] = ()  # Settings field names, drawn above the charts in presenter mode
    hint: str | None = None  # words for the bar: a page's own control, or what to watch


@dataclass(frozen=True)
class Lesson:
    name: str
    title: str
    description: str
    steps: tuple[Step, ...]


def sentences(text: str) -> int:
    """How many sentences ``text`` has: ends of sentence followed by a capital or the end."""
    return max(1, len(_SENTENCE_END.findall(text.strip()))) if text.strip() else 0


def _step_lines(text: str) -> list[int]:
    """The line (1-based) of each ``[[steps]]`` header, in order."""
    return [i + 1 for i, line in enumerate(text.splitlines()) if re.match(r"^\s*\[\[\s*steps\s*\]\]", line)]


def _key_line(text: str, key: str, start: int, end: int | None) -> int:
    """The line of ``key = ...`` between lines ``start`` and ``end`` (1-based), else ``start``."""
    lines = text.splitlines()
    for i in range(start - 1, len(lines) if end is None else end - 1):
        if re.match(rf"^\s*{re.escape(key)}\s*=", lines[i]):
            return i + 1
    return start


def parse_query(query: str) -> tuple[tuple[str, str], ...]:
    """``key=value&...`` (a leading ``?`` allowed) as pairs; ValueError when it is not that."""
    query = query.strip().lstrip("?")
    if not query:
        return ()
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise ValueError(f"query {query!r} is not of the form key=value&key=value") from None
    for key, _ in pairs:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
            raise ValueError(f"query key {key!r} is not a name")
        if key in (LESSON_PARAM, STEP_PARAM):
            raise ValueError(f"query key {key!r} is the lesson's own; leave it out")
    return tuple(pairs)


def parse_controls(control: object) -> tuple[str, ...]:
    """A step's ``control`` (a setting's name, or a list of them) as names; ValueError when it
    is not that, naming the closest setting."""
    names = [control] if isinstance(control, str) else control
    if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
        raise ValueError('control must be a setting\'s name in quotes, or a list of them: '
                         'control = "batch_size" or control = ["gamma_init", "beta_init"]')
    out: list[str] = []
    for raw in names:
        name = raw.strip()
        if name not in CONTROLS:
            close = difflib.get_close_matches(name, CONTROLS, n=1)
            by_label = [f for f in CONTROLS if Settings.spec(f).label.lower() == name.lower()]
            better = by_label or close
            suggestion = f" (did you mean {better[0]!r}?)" if better else ""
            raise ValueError(f"control {name!r} is not a setting{suggestion}; a control names "
                             f"settings: {', '.join(CONTROLS)} (words go in hint)")
        if name not in out:
            out.append(name)
    return tuple(out)


def parse(text: str, name: str = "lesson", source: str | None = None) -> Lesson:
    """The lesson ``text`` describes; :class:`LessonError` with the line when it cannot be used."""
    src = source or f"{name}.toml"
    if len(text.encode()) > MAX_BYTES:
        raise LessonError(f"the file is longer than {MAX_BYTES // 1000} kB; a lesson is a page of text",
                          None, src)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        m = re.search(r"line (\d+)", str(err))
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(err)) or "not valid TOML"
        raise LessonError(f"not valid TOML: {reason}", int(m.group(1)) if m else None, src) from None
    for key in raw:
        if key not in LESSON_KEYS:
            raise LessonError(f"unknown key {key!r} (a lesson has {', '.join(sorted(LESSON_KEYS))})",
                              _key_line(text, key, 1, None), src)
    title = raw.get("title")
    if not isinstance(title, str) or not title.strip():
        raise LessonError('the lesson needs a title: title = "..."', 1, src)
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise LessonError("description must be text in quotes", _key_line(text, "description", 1, None), src)
    steps_raw = raw.get("steps")
    if not isinstance(steps_raw, list) or not steps_raw:
        raise LessonError("the lesson has no steps: add [[steps]] tables", None, src)
    if len(steps_raw) > MAX_STEPS:
        raise LessonError(f"{len(steps_raw)} steps; a lesson has at most {MAX_STEPS}", None, src)
    heads = _step_lines(text)
    steps = []
    for i, s in enumerate(steps_raw):
        start = heads[i] if i < len(heads) else None
        end = heads[i + 1] if i + 1 < len(heads) else None

        def fail(message: str, key: str | None = None, i: int = i, start: int | None = start,
                 end: int | None = end) -> LessonError:
            line = start if key is None or start is None else _key_line(text, key, start, end)
            return LessonError(f"step {i + 1}: {message}", line, src)

        if not isinstance(s, dict):
            raise fail("is not a table: write it as [[steps]] followed by key = value lines")
        for key in s:
            if key not in STEP_KEYS:
                raise fail(f"unknown key {key!r} (a step has {', '.join(sorted(STEP_KEYS))})", key)
        for key in (*REQUIRED_STEP_KEYS, "query", "hint"):
            if key in s and not isinstance(s[key], str):
                raise fail(f"{key} must be text in quotes", key)
        for key in REQUIRED_STEP_KEYS:
            if not str(s.get(key, "")).strip():
                raise fail(f'has no {key}: add {key} = "..."')
        page = s["page"].strip()
        if page not in PAGES:
            raise fail(f"page {page!r} is not one of {', '.join(PAGES)}", "page")
        try:
            query = parse_query(s.get("query", ""))
        except ValueError as err:
            raise fail(str(err), "query") from None
        _, notices = Settings.from_query(dict(query))
        if notices:
            raise fail("query: " + "; ".join(notices), "query")
        n = sentences(s["text"])
        if n > MAX_SENTENCES:
            raise fail(f"text has {n} sentences; keep it to {MAX_SENTENCES} (say the rest aloud)", "text")
        try:
            controls = parse_controls(s.get("control", ()))
        except ValueError as err:
            raise fail(str(err), "control") from None
        hint = str(s.get("hint", "")).strip() or None
        steps.append(Step(page=page, query=query, title=s["title"].strip(), text=s["text"].strip(),
                          question=s["question"].strip(), controls=controls, hint=hint))
    return Lesson(name=name, title=title.strip(), description=description.strip(), steps=tuple(steps))


def names(folder: Path = LESSONS_DIR) -> list[str]:
    """The lessons shipped in ``folder``, by file name."""
    return sorted(p.stem for p in folder.glob("*.toml") if NAME.match(p.stem))


def load(name: str, folder: Path = LESSONS_DIR) -> Lesson:
    """The lesson ``name`` (a file ``folder/name.toml``); LessonError when there is none or it is broken."""
    if not NAME.match(name) or name not in names(folder):
        known = ", ".join(names(folder)) or "none"
        raise LessonError(f"there is no lesson {name!r} (lessons here: {known})", None, "lessons/")
    path = folder / f"{name}.toml"
    return parse(path.read_text(encoding="utf-8"), name, f"lessons/{path.name}")


def step_url(lesson: Lesson, index: int) -> str:
    """The link that opens step ``index`` (0-based): its page, its query, the lesson and step."""
    step = lesson.steps[index]
    query = [*step.query, (LESSON_PARAM, lesson.name), (STEP_PARAM, str(index + 1))]
    return f"/{PAGES[step.page]}?{urlencode(query)}"


def to_toml(title: str, steps: Sequence[Mapping[str, Any]], description: str = "") -> str:
    """A lesson file of ``steps`` (dicts with the step keys; ``control`` a name or a list of
    names), for "download my lesson"."""

    def quote(s: str) -> str:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'

    out = [f"title = {quote(title)}"]
    if description:
        out.append(f"description = {quote(description)}")
    for s in steps:
        out.append("")
        out.append("[[steps]]")
        for key in ("page", "query", "title", "text", "question", "control", "hint"):
            value = s.get(key)
            if isinstance(value, list | tuple):
                if value:
                    out.append(f"{key} = [{', '.join(quote(v) for v in value)}]")
            elif value:
                out.append(f"{key} = {quote(value)}")
    return "\n".join(out) + "\n"
