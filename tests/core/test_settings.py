"""Settings: validation names the field; URL parameters never raise and say what they changed."""

import dataclasses

import pytest

from bnviz import Settings
from bnviz.data import DATASETS, n_train

MOONS = n_train("moons")  # 400 training examples


@pytest.mark.parametrize(
    "field,value",
    [
        ("batch_size", 0),
        ("batch_size", MOONS + 1),  # more than moons' training examples
        ("eps", -1e-3),
        ("eps", float("nan")),
        ("lr", float("inf")),
        ("decay", 1.0),
        ("depth", 0),
        ("activation", "swish"),
        ("dataset", "mnist"),
        ("use_bn", "yes"),
        ("width", 2.5),
        ("bn_noise", -0.1),
        ("bn_noise", 3.5),
    ],
)
def test_invalid_values_raise_naming_the_field(field, value):
    with pytest.raises(ValueError, match=f"^{field}:"):
        Settings(**{field: value})


def test_query_round_trip_is_exact():
    s = Settings(
        dataset="digits", eps=1.2345678901234e-7, lr=0.1 + 0.2, decay=0.987, use_bn=False, batch_size=7
    )
    back, notices = Settings.from_query(s.to_query())
    assert back == s and notices == []


@pytest.mark.parametrize(
    "params,expect,fragment",
    [
        ({"batch_size": "abc"}, {"batch_size": 32}, "not a number"),
        ({"eps": "nan"}, {"eps": 1e-5}, "not a finite number"),
        ({"lr": "1e9"}, {"lr": 10.0}, "clamped"),
        ({"depth": "1000000"}, {"depth": 8}, "clamped"),
        ({"steps": "-5"}, {"steps": 1}, "clamped"),
        ({"width": "3.7"}, {"width": 4}, "rounded"),
        ({"use_bn": "maybe"}, {"use_bn": True}, "on/off"),
        ({"activation": "<script>alert(1)</script>"}, {"activation": Settings.activation}, "not one of"),
        ({"dataset": "moons", "batch_size": "1000"}, {"batch_size": MOONS}, "training examples"),
        ({"batch_size": ["8", "16"]}, {"batch_size": 16}, None),  # repeated key: the last wins
        ({"batch_size": "9" * 5000}, {"batch_size": MOONS}, "clamped"),  # then to moons' size
    ],
)
def test_malformed_query_falls_back_with_a_notice(params, expect, fragment):
    s, notices = Settings.from_query(params)
    for k, v in expect.items():
        assert getattr(s, k) == v
    if fragment:
        assert any(fragment in n for n in notices), notices
    else:
        assert notices == []


def test_notices_write_numbers_as_fmt_does():
    _, notices = Settings.from_query({"lr": "1e9", "eps": "-1"})
    assert notices == ["eps='-1': outside 0 … 1, clamped to 0", "lr='1e9': outside 1e-5 … 10, clamped to 10"]
    with pytest.raises(ValueError, match=r"^lr: must be between 1e-5 and 10, got 20.0$"):
        Settings(lr=20.0)
    _, notices = Settings.from_query({"lr": "−0.5"})  # a Unicode minus is a minus
    assert notices == ["lr='−0.5': outside 1e-5 … 10, clamped to 1e-5"]


def test_the_largest_batch_is_the_largest_training_set():
    top = max(n_train(name) for name in DATASETS)
    assert Settings.spec("batch_size").hi == top
    assert Settings(dataset="digits", batch_size=n_train("digits")).batch_size == top


def test_unknown_keys_are_ignored_and_every_field_has_a_help_text():
    s, notices = Settings.from_query({"hack": "1"})
    assert s == Settings() and notices == []
    for f in dataclasses.fields(Settings):
        assert Settings.spec(f.name).help


def test_no_setting_can_ask_for_unbounded_compute():
    from bnviz.settings import MAX_COST

    with pytest.raises(ValueError, match=r"^steps: .* billion multiply-adds"):
        Settings(dataset="digits", width=128, depth=8)
    worst = {"dataset": "digits", "width": "128", "depth": "8", "batch_size": str(n_train("digits")),
             "steps": "5000"}  # fmt: skip
    s, notices = Settings.from_query(worst)
    assert s.cost() <= MAX_COST
    assert s.steps >= 1 and s.width <= 128
    assert any("more compute than one run may use" in n for n in notices)
    # the default and the covariate-shift network fit comfortably
    assert Settings().cost() < MAX_COST / 100
    assert (
        Settings(dataset="digits", width=100, depth=3, batch_size=60, activation="sigmoid").cost() < MAX_COST
    )


def test_canonical_settings_drop_what_cannot_change_a_no_bn_run():
    from bnviz.train import train

    a = Settings(
        use_bn=False,
        eps=0.1,
        gamma_init=2.0,
        decay=0.5,
        bias_correction=True,
        freeze_affine=True,
        bn_noise=1.0,
    )
    assert a.canonical() == Settings(use_bn=False)
    assert Settings(eps=0.1).canonical() == Settings(eps=0.1)  # with BN every field counts
    # and the claim behind it: those fields really do not change a no-BN run
    r1, r2 = train(a.replace(steps=30)), train(Settings(use_bn=False, steps=30))
    assert r1.curves.equals(r2.curves)


@pytest.mark.parametrize(
    "text,integer,expect,fragment",
    [
        ("0.5", False, 0.5, None),
        ("abc", False, 1.0, "not a number"),
        ("inf", False, 1.0, "not a finite number"),
        ("99", False, 3.0, "clamped"),
        ("2.6", True, 3, "rounded"),
        ("<b>2</b>", True, 1.0, "not a number"),
    ],
)
def test_a_page_url_number_follows_the_settings_rules(text, integer, expect, fragment):
    from bnviz.settings import number_from_url

    value, note = number_from_url(text, 1.0, -3.0, 3.0, integer)
    assert value == expect
    if fragment is None:
        assert note is None
    else:
        assert note is not None and fragment in note


def test_groups_must_divide_the_width_for_group_norm_only():
    with pytest.raises(ValueError, match=r"^groups: 5 groups do not divide the 12 units per layer.*e\.g\. 4"):
        Settings(normalization="group", groups=5)
    Settings(normalization="group", groups=4)
    Settings(normalization="batch", groups=5)  # not GroupNorm: groups are not used
    Settings(normalization="group", groups=5, use_bn=False)  # normalization off
    with pytest.raises(ValueError, match=r"^normalization:"):
        Settings(normalization="instance")


def test_a_url_with_groups_that_do_not_divide_the_width_takes_the_nearest_divisor():
    s, notices = Settings.from_query({"normalization": "group", "groups": "5", "width": "12"})
    assert s.groups == 4 and s.normalization == "group"
    assert notices == ["groups: 5 groups do not divide the 12 units per layer; using 4"]
    s, notices = Settings.from_query({"normalization": "renorm", "renorm_r_max": "0.5", "renorm_d_max": "2"})
    assert (s.normalization, s.renorm_r_max, s.renorm_d_max) == ("renorm", 1.0, 2.0) and len(notices) == 1
    back, notices = Settings.from_query(Settings(normalization="group", groups=3, bn_noise=0.25).to_query())
    assert back == Settings(normalization="group", groups=3, bn_noise=0.25) and notices == []


def test_canonical_settings_drop_what_the_chosen_norm_does_not_use():
    assert Settings(groups=3, renorm_r_max=2.0).canonical() == Settings()
    assert Settings(normalization="group", groups=3, renorm_d_max=1.0).canonical() == Settings(
        normalization="group", groups=3
    )
    layer = Settings(normalization="layer", decay=0.5, bias_correction=True, eps=0.1)
    assert layer.canonical() == Settings(normalization="layer", eps=0.1)
    renorm = Settings(normalization="renorm", decay=0.5, renorm_r_max=2.0, groups=6)
    assert renorm.canonical() == renorm.replace(groups=2)
    assert Settings(use_bn=False, normalization="group", groups=3).canonical() == Settings(use_bn=False)
    # and the claim behind it: a LayerNorm run does not depend on decay or bias correction
    from bnviz.train import train

    r1, r2 = train(layer.replace(steps=20)), train(layer.canonical().replace(steps=20))
    assert r1.curves.equals(r2.curves)


def test_a_network_cut_to_the_budget_keeps_groups_that_divide_its_width():
    query = {"dataset": "digits", "width": "96", "depth": "8", "normalization": "group", "groups": "96"}
    s, notices = Settings.from_query(query)
    assert s.width < 96 and s.width % s.groups == 0 and s.groups == s.width
    assert notices[-1].endswith(f"groups={s.groups}")


def test_the_notes_bn_is_on_with_batch_statistics_before_g_and_without_noise():
    s = Settings(use_bn=False, normalization="layer", bn_position="after", bn_noise=1.0, width=8)
    assert s.note_bn() == Settings(width=8)
    # the other normalizations' settings left in a link are dropped: one cached network
    assert Settings(normalization="group", groups=3, renorm_r_max=2.0).note_bn() == Settings()
    with pytest.raises(ValueError, match=r"^bn_position:"):
        Settings(bn_position="middle")
    assert Settings(use_bn=False, bn_position="after").canonical() == Settings(use_bn=False)
