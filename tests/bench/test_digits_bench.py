"""bench/digits.py: the paired comparison of two readers on the same images."""

import subprocess

import numpy as np
import pytest

import bench.digits as bench
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


def test_a_tesseract_crash_reads_each_image_alone_and_counts_the_killer_as_unread(monkeypatch, capsys):
    calls = []

    def fake_tesseract(source):
        calls.append(source)
        if source.endswith("list.txt") or source.endswith("00001.png"):
            return subprocess.CompletedProcess([], -8, "", "")  # SIGFPE
        return subprocess.CompletedProcess([], 0, f"4{len(calls)}\n", "")

    monkeypatch.setattr(bench.shutil, "which", lambda name: "/usr/bin/tesseract")
    monkeypatch.setattr(bench, "_tesseract", fake_tesseract)
    texts, rate = bench.run_tesseract([np.zeros((8, 8), np.uint8)] * 3)
    assert texts == ["42", "", "44"] and rate > 0
    assert len(calls) == 4 and "died on 1 of 3" in capsys.readouterr().out
