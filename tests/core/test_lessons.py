"""Lesson files: the shipped ones are valid, and every mistake a teacher can make is named
with its line."""

from __future__ import annotations

import dataclasses
from urllib.parse import parse_qsl, urlsplit

import pytest

from bnviz import lessons
from bnviz.settings import Settings

GOOD = """\
title = "A lesson"

[[steps]]
page = "explorer"
query = "batch_size=4&depth=3"
title = "First"
text = "One sentence. Two sentences."
question = "Why?"

[[steps]]
page = "noise"
title = "Second"
text = "Only one."
question = "How?"
control = "batch_size"
hint = "then watch the spread"
"""


def test_shipped_lessons_are_valid_and_cover_the_note() -> None:
    names = lessons.names()
    assert "batch-normalization-in-20-minutes" in names
    assert "test-time-and-conventions" in names
    for name in names:
        lesson = lessons.load(name)
        assert lesson.steps
        for step in lesson.steps:
            assert Settings.from_query(dict(step.query))[1] == []
            assert 1 <= lessons.sentences(step.text) <= lessons.MAX_SENTENCES
    pages = [s.page for s in lessons.load("batch-normalization-in-20-minutes").steps]
    # the note's sections in order: normalizing, γ and β, b, mini-batches, covariate shift, noise, test time
    for a, b in [("glass-box", "bias"), ("bias", "covariate-shift"), ("covariate-shift", "noise"),
                 ("noise", "test-time")]:
        assert pages.index(a) < pages.index(b)


def test_parse_reads_every_field() -> None:
    lesson = lessons.parse(GOOD, "mine")
    assert lesson.title == "A lesson"
    assert [s.page for s in lesson.steps] == ["explorer", "noise"]
    assert lesson.steps[0].query == (("batch_size", "4"), ("depth", "3"))
    assert lesson.steps[0].controls == () and lesson.steps[0].hint is None
    assert lesson.steps[1].controls == ("batch_size",) and lesson.steps[1].hint == "then watch the spread"


def test_control_names_one_setting_or_a_list_of_them() -> None:
    two = lessons.parse(GOOD.replace('control = "batch_size"', 'control = ["gamma_init", "beta_init"]'))
    assert two.steps[1].controls == ("gamma_init", "beta_init")
    multiline = GOOD.replace('control = "batch_size"', 'control = [\n  "eps",\n  "eps",\n]')
    assert lessons.parse(multiline).steps[1].controls == ("eps",)  # once each
    assert set(lessons.CONTROLS) == {f.name for f in dataclasses.fields(Settings)}


def test_step_url_names_the_page_the_view_and_the_step() -> None:
    lesson = lessons.parse(GOOD, "mine")
    first, second = (urlsplit(lessons.step_url(lesson, i)) for i in range(2))
    assert first.path == "/" and second.path == "/noise"
    q = dict(parse_qsl(first.query))
    assert q == {"batch_size": "4", "depth": "3", "lesson": "mine", "step": "1"}
    assert dict(parse_qsl(second.query))["step"] == "2"
    settings, notices = Settings.from_query(q)
    assert notices == [] and settings.batch_size == 4 and settings.depth == 3


def test_to_toml_round_trips() -> None:
    steps: list[dict[str, object]] = [
        {"page": "bias", "query": "", "title": 'A "quoted" title', "text": "Look.", "question": "Q?"},
        {"page": "explorer", "title": "Two", "text": "Move them.", "question": "Q?",
         "control": ["gamma_init", "beta_init"], "hint": "the Z̃ panel"},
    ]
    lesson = lessons.parse(lessons.to_toml("Mine", steps), "mine")
    assert lesson.steps[0].title == 'A "quoted" title' and lesson.steps[0].page == "bias"
    assert lesson.steps[1].controls == ("gamma_init", "beta_init") and lesson.steps[1].hint == "the Z̃ panel"


@pytest.mark.parametrize(
    ("change", "line", "words"),
    [
        (("question = \"How?\"", "question = \"How?"), 14, "not valid TOML"),
        (("page = \"noise\"", "page = \"nosie\""), 11, "page 'nosie' is not one of"),
        (("query = \"batch_size=4&depth=3\"", "query = \"batch_size=four\""), 5, "batch_size='four'"),
        (("query = \"batch_size=4&depth=3\"", "query = \"batch size 4\""), 5, "key=value"),
        (("control = \"batch_size\"", "contrl = \"batch_size\""), 15, "unknown key 'contrl'"),
        (("control = \"batch_size\"", "control = \"batch_sise\""), 15,
         "control 'batch_sise' is not a setting (did you mean 'batch_size'?)"),
        (("control = \"batch_size\"", "control = \"Batch size m\""), 15, "(did you mean 'batch_size'?)"),
        (("control = \"batch_size\"", "control = [\"lr\", 3]"), 15, "control must be a setting's name"),
        (("hint = \"then watch the spread\"", "hint = 3"), 16, "hint must be text"),
        (("question = \"How?\"\n", ""), 10, "step 2: has no question"),
        (("text = \"Only one.\"", "text = \"One. Two. Three. Four.\""), 13, "4 sentences"),
        (("title = \"A lesson\"", "titel = \"A lesson\""), 1, "unknown key 'titel'"),
        (("page = \"explorer\"", "page = 3"), 4, "page must be text"),
    ],
)
def test_a_malformed_lesson_names_its_line_and_what_is_wrong(change: tuple[str, str], line: int,
                                                             words: str) -> None:
    text = GOOD.replace(*change)
    assert text != GOOD
    with pytest.raises(lessons.LessonError) as info:
        lessons.parse(text, "broken")
    assert info.value.line == line, str(info.value)
    assert words in info.value.message, str(info.value)
    assert f"line {line}" in str(info.value)


def test_a_lesson_without_steps_or_too_long_is_refused() -> None:
    with pytest.raises(lessons.LessonError, match="no steps"):
        lessons.parse('title = "x"\n')
    with pytest.raises(lessons.LessonError, match="longer than"):
        lessons.parse('title = "x"\n#' + "x" * lessons.MAX_BYTES)


def test_load_refuses_names_that_are_not_shipped_lessons() -> None:
    for name in ("../pyproject", "nope", "", "A"):
        with pytest.raises(lessons.LessonError, match="there is no lesson"):
            lessons.load(name)


def test_sentences() -> None:
    assert lessons.sentences("One. Two! Three?") == 3
    assert lessons.sentences("z = W·A + b, e.g. here.") == 1
    assert lessons.sentences("") == 0
