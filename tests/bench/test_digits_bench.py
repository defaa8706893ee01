"""bench/digits.py: the paired comparison of two readers on the same images."""

import pytest

from bench.digits import paired


def test_paired_counts_discordant_images_and_exact_mcnemar_p():
    truths = ["1", "2", "3", "4", "5", "6", "7"]
    ours = ["1", "2", "3", "4", "5", "x", "x"]   # right on the first five
    theirs = ["x", "x", "x", "x", "x", "x", "x"]  # right on none: 5 discordant, all ours
    result = paired(ours, theirs, truths)
    assert (result["only_ours"], result["only_theirs"]) == (5, 0)
    assert result["mcnemar_p"] == pytest.approx(2 / 2**5)  # two-sided exact binomial, k = 0 of n = 5
    assert paired(theirs, ours, truths)["mcnemar_p"] == pytest.approx(2 / 2**5)
    same = paired(ours, ours, truths)
    assert (same["only_ours"], same["only_theirs"], same["mcnemar_p"]) == (0, 0, 1.0)


def test_paired_p_is_one_for_an_even_split():
    truths, ours, theirs = ["1", "2", "3", "4"], ["1", "2", "x", "x"], ["x", "x", "3", "4"]
    assert paired(ours, theirs, truths)["mcnemar_p"] == pytest.approx(1.0)  # 2*(1+4+6)/16 capped at 1
