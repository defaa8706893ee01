import math

import torch

from vision.digits.decode import beam_decode, decode_string, greedy_decode, string_probability, text_to_labels


def peaked(path: list[int], classes: int = 11, sharpness: float = 8.0) -> torch.Tensor:
    """Log-probabilities (T, C) with most mass on ``path`` (a CTC alignment, blank = 0)."""
    logits = torch.zeros(len(path), classes)
    logits[torch.arange(len(path)), torch.tensor(path)] = sharpness
    return logits.log_softmax(-1)


def test_known_alignment_is_decoded():
    # "1 1 _ 1 2 2 _ _ 0" -> digits 0 0 1 9 (labels are digit + 1)
    path = [1, 1, 0, 1, 2, 2, 0, 0, 10]
    assert greedy_decode(peaked(path)) == "0019"
    assert beam_decode(peaked(path), beam=4) == "0019"


def test_greedy_and_beam_agree_on_peaked_inputs():
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        path = torch.randint(0, 11, (15,), generator=generator).tolist()
        log_probs = peaked(path)
        assert beam_decode(log_probs, beam=8) == greedy_decode(log_probs)


def test_beam_finds_the_string_greedy_misses():
    # Two steps: P(blank) = 0.4 at each, P("1") = 0.3, P("2") = 0.3. Best path is blank-blank (""),
    # but "1" has probability 0.3*0.4 + 0.4*0.3 + 0.3*0.3 = 0.33 > P("") = 0.16.
    probs = torch.tensor([[0.4, 0.0, 0.3, 0.3] + [0.0] * 7] * 2) + 1e-9
    log_probs = (probs / probs.sum(-1, keepdim=True)).log()
    assert greedy_decode(log_probs) == ""
    assert beam_decode(log_probs, beam=8) in ("1", "2")


def test_length_range_is_respected():
    log_probs = peaked([2, 0, 3, 0, 4, 0, 5])  # "1234"
    assert beam_decode(log_probs, beam=8, max_len=3) in {"123", "124", "134", "234"}
    # three steps of P(blank) = 0.5, P("1") = 0.3, P("2") = 0.2: the best string is short; min_len forces 2+
    probs = torch.tensor([[0.5, 0.0, 0.3, 0.2] + [0.0] * 7] * 3) + 1e-12
    log_probs = (probs / probs.sum(-1, keepdim=True)).log()
    assert len(beam_decode(log_probs, beam=16)) < 2
    assert len(beam_decode(log_probs, beam=16, min_len=2)) >= 2


def test_decode_string_is_greedy_unless_a_beam_or_a_length_range_is_asked_for():
    probs = torch.tensor([[0.4, 0.0, 0.3, 0.3] + [0.0] * 7] * 2) + 1e-9  # greedy "", beam "1" or "2"
    log_probs = (probs / probs.sum(-1, keepdim=True)).log()
    assert decode_string(log_probs) == greedy_decode(log_probs) == ""
    assert decode_string(log_probs, beam=8) == beam_decode(log_probs, beam=8) != ""
    assert decode_string(log_probs, min_len=1) == beam_decode(log_probs, beam=2, min_len=1) != ""  # beam 1 -> 2


def test_string_probability_is_a_probability():
    log_probs = peaked([2, 0, 3, 3], sharpness=6.0)
    lengths = torch.tensor([4, 4])
    probs = string_probability(torch.stack([log_probs, log_probs]), lengths, ["12", "77"])
    assert 0.5 < probs[0] <= 1.0 and probs[1] < 1e-3
    # exact check for one step: P("1") = p1
    one = torch.tensor([[0.2, 0.0, 0.8] + [0.0] * 8]) + 1e-12
    p = string_probability((one / one.sum()).log()[None], torch.tensor([1]), ["1"])
    assert math.isclose(p.item(), 0.8, rel_tol=1e-5)


def test_impossible_string_has_zero_confidence():
    log_probs = peaked([2, 0])
    assert string_probability(log_probs[None], torch.tensor([2]), ["111"]).item() == 0.0
    assert text_to_labels("09") == [1, 10]
