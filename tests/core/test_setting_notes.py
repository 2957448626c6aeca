"""The Explorer's one-line notes on settings: the normalization after g, noise after it, and
LayerNorm/GroupNorm over sets of one or two units, whose claim that such a network does not
learn is checked by training it."""

from __future__ import annotations

import pytest

from bnviz import Settings
from bnviz.explorer import setting_notes
from bnviz.train import train


def test_the_note_default_has_no_notes():
    assert setting_notes(Settings()) == ()
    assert setting_notes(Settings(use_bn=False, bn_position="after", bn_noise=1.0)) == (), "no normalization"


def test_after_g_says_the_z_panels_show_gs_output():
    (note,) = setting_notes(Settings(bn_position="after"))
    assert note.startswith("BN after g:") and "The Z panels show g's output" in note
    (note,) = setting_notes(Settings(bn_position="after", normalization="layer"))
    assert note.startswith("LayerNorm after g:") and "what LayerNorm normalizes" in note


def test_noise_after_the_normalization_says_its_law_and_that_the_panels_leave_it_out():
    (note,) = setting_notes(Settings(bn_noise=0.5))
    assert "n = 0.5" in note and "U(1/(1+n), 1+n)" in note and "U(−n, n)" in note
    assert "without it" in note
    assert len(setting_notes(Settings(bn_noise=0.5, bn_position="after"))) == 2


@pytest.mark.parametrize(
    ("changes", "start", "remedy"),
    [
        ({"normalization": "group", "width": 8, "groups": 4}, "GroupNorm over groups of 2 units:", "2, of 4"),
        ({"normalization": "group", "groups": 6}, "GroupNorm over groups of 2 units:", "4, of 3"),
        ({"normalization": "layer", "width": 2}, "LayerNorm over its 2 units:", "more units per layer"),
        ({"normalization": "group", "groups": 12}, "GroupNorm over groups of 1 unit:", "e.g. 4, of 3"),
        ({"normalization": "layer", "width": 1}, "LayerNorm over its 1 unit:", "more units per layer"),
    ],
)
def test_sets_of_one_or_two_units_are_named_with_a_remedy(changes, start, remedy):
    (note,) = setting_notes(Settings(**changes))
    assert note.startswith(start) and remedy in note
    assert ("z_norm = 0" in note) == (start.endswith("1 unit:"))


@pytest.mark.parametrize("groups", [1, 2, 3])  # 12, 6 and 4 units per group: no note
def test_groups_of_three_units_or_more_have_no_note(groups):
    assert setting_notes(Settings(normalization="group", groups=groups)) == ()


def test_groups_of_two_units_do_not_learn_where_groups_of_four_do():
    # the note's claim on the default sigmoid network, 8 units: 4 groups of 2 stay near chance
    s = Settings(normalization="group", width=8)
    pairs = train(s.replace(groups=4)).curves["test_acc"].iloc[-1]
    fours = train(s.replace(groups=2)).curves["test_acc"].iloc[-1]
    assert pairs < 0.55 < 0.8 < fours, (pairs, fours)
