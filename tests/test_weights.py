"""Every shipped card is valid, its file matches, and its model loads; weights/ stays under 30 MB."""

import pytest

from apps.models import load_model
from recurrent.registry import WEIGHTS_DIR, list_weights

CARDS = list_weights(WEIGHTS_DIR)


def test_weights_folder_size():
    total = sum(p.stat().st_size for p in WEIGHTS_DIR.glob("*"))
    assert total < 30e6, f"weights/ holds {total / 1e6:.1f} MB"


@pytest.mark.parametrize("card", CARDS, ids=[c["name"] for c in CARDS])
def test_shipped_weights_load(card):
    model = load_model(card["name"])
    assert sum(p.numel() for p in model.parameters()) == card["num_params"]
    assert card["metrics"], f"{card['name']}: card has no measured metrics"
    assert card["metrics_command"] and card["command"]
