"""The Targets table of BENCHMARKS.md: a measured value never prints as the very target it fails."""

from bench.run import percent, shown


def test_a_value_rounded_onto_its_target_gets_one_more_decimal():
    assert percent(0.598, 0.6) == "59.8 %"
    assert percent(0.6, 0.6) == "60 %"
    assert shown(1.507, 1.5, 1, "×") == "1.51 ×"


def test_other_values_keep_their_digits():
    assert percent(0.66, 0.55) == "66 %"
    assert shown(1.8, 1.5, 1, "×") == "1.8 ×"
