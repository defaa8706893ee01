import pytest
import torch
import torch.nn.functional as F

from recurrent.registry import count_params
from vision.digits.model import BLANK, NUM_CLASSES, crnn_digits, crnn_zhan2017, deepened

TINY = {"stem_channels": 8, "stage_channels": (8, 16, 16), "lstm_hidden": 16}


def test_zhan2017_reads_a_512x6x15_map_as_15_steps():
    model = crnn_zhan2017().eval()
    features = model.stages(model.stem(torch.zeros(1, 1, 50, 120)))
    assert features.shape == (1, 512, 6, 15)
    assert model.time_steps(120) == 15
    assert model.encoder.lstms[0].input_size == 512 * 6


def test_time_steps_match_the_output_and_suffice_for_12_repeated_digits():
    model = crnn_digits(**TINY).eval()
    for width in (16, 37, 120, 301):
        assert model(torch.zeros(2, 1, 32, width)).shape == (2, model.time_steps(width), NUM_CLASSES)
    # 12 digits need up to 12 + 11 steps (a blank between repeats); a 12-digit string is >= 96 px wide
    # at height 32 in every synthetic or real sample (0.25 aspect per digit at the very least).
    assert model.time_steps(96) >= 23
    assert torch.equal(model.time_steps(torch.tensor([37, 120])), torch.tensor([10, 30]))


@pytest.mark.parametrize("builder, config", [(crnn_digits, TINY), (crnn_zhan2017, {"lstm_hidden": 16})])
def test_an_image_reads_the_same_alone_or_padded_in_a_batch(builder, config):
    torch.manual_seed(0)
    model = builder(**config).eval()
    height = model.config.height
    for width in (61, 64, 120):
        image, neighbour = torch.rand(1, 1, height, width), torch.rand(1, 1, height, 200)
        batch = torch.zeros(2, 1, height, 200)
        batch[0, ..., :width], batch[1] = image[0], neighbour[0]
        with torch.no_grad():
            alone = model(image, torch.tensor([width]))
            together = model(batch, torch.tensor([width, 200]))
            unmasked = model(batch)
        steps = model.time_steps(width)
        assert alone.shape[1] == steps
        torch.testing.assert_close(together[0, :steps], alone[0], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(model(image), alone)  # an unpadded image needs no widths
        assert (unmasked[0, :steps] - alone[0]).abs().max() > 1e-3  # the padding would leak without them


def test_output_is_log_probabilities_and_gradients_flow():
    model = crnn_digits(**TINY)
    log_probs = model(torch.randn(3, 1, 32, 64))
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(3, 16))
    log_probs.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_rejects_wrong_height():
    model = crnn_digits(**TINY)
    try:
        model(torch.zeros(1, 1, 30, 64))
    except ValueError as error:
        assert "(B, 1, 32, W)" in str(error)
    else:
        raise AssertionError("wrong height accepted")


def test_overfits_a_tiny_batch():
    torch.manual_seed(0)
    model = crnn_digits(**TINY)
    images = torch.rand(4, 1, 32, 64)
    texts = ["12", "345", "7", "9090"]
    targets = torch.tensor([int(c) + 1 for t in texts for c in t])
    lengths = torch.full((4,), model.time_steps(64))
    target_lengths = torch.tensor([len(t) for t in texts])
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        loss = F.ctc_loss(model(images).transpose(0, 1), targets, lengths, target_lengths, blank=BLANK)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0], losses[::10]


def test_shipped_config_size():
    assert 1.5e6 < count_params(crnn_digits()) < 3e6


def test_a_deepened_reader_reads_as_before_and_its_new_blocks_learn():
    torch.manual_seed(0)
    model = crnn_digits(**TINY)
    for _ in range(3):  # running statistics of trained batch norms, not their initial identity
        model(torch.rand(4, 1, 32, 64))
    model.eval()
    grown = deepened(model, (1, 2, 3))
    assert len(grown.stages) == 6 and grown.config.blocks_per_stage == (1, 2, 3) and not grown.training
    images = torch.rand(2, 1, 32, 80)
    with torch.no_grad():
        torch.testing.assert_close(grown(images, torch.tensor([80, 61])), model(images, torch.tensor([80, 61])))
    grown.train()
    grown(images).sum().backward()
    assert grown.stages[2].body[-1].weight.grad.abs().sum() > 0  # an added block's zero scale moves
    with pytest.raises(ValueError, match="at least"):
        deepened(grown, (1, 1, 3))
