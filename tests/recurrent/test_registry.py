from dataclasses import dataclass

import pytest
import torch
from torch import nn

from recurrent.registry import (
    WeightsError,
    build_model,
    get_model,
    list_models,
    load_model,
    make_config,
    read_card,
    record_metrics,
    register_model,
    save_weights,
)


@dataclass(frozen=True)
class TinyConfig:
    width: int = 4
    kernel: tuple[int, int] = (3, 3)


class Tiny(nn.Module):
    def __init__(self, config: TinyConfig):
        super().__init__()
        self.config = config
        self.conv = nn.Conv2d(1, config.width, config.kernel, padding=1)
        self.norm = nn.BatchNorm2d(config.width)

    def forward(self, x):
        return self.norm(self.conv(x))


@register_model("test-tiny")
def tiny(**overrides) -> Tiny:
    return Tiny(make_config(TinyConfig(), overrides))


def _save(model, stem, dtype=torch.float32):
    return save_weights(
        model, stem, model_name="test-tiny", data=[{"name": "none", "license": "n/a"}],
        command="test", metrics={"acc": 1.0}, metrics_command="test", dtype=dtype,
    )


def _trained_tiny(width=4):
    torch.manual_seed(0)
    model = get_model("test-tiny", width=width)
    model.train()
    model(torch.randn(2, 1, 5, 5))  # moves the BatchNorm running statistics
    return model.eval()


def test_duplicate_registration_is_rejected():
    assert "test-tiny" in list_models()
    with pytest.raises(ValueError, match="already registered"):
        register_model("test-tiny")(tiny)


def test_unknown_model_and_unknown_field():
    with pytest.raises(KeyError, match="unknown model"):
        get_model("no-such-model")
    with pytest.raises(TypeError, match="no field"):
        get_model("test-tiny", depth=3)


def test_json_lists_become_tuples():
    assert make_config(TinyConfig(), {"kernel": [1, 1]}).kernel == (1, 1)


def test_round_trip_reproduces_outputs(tmp_path):
    model = _trained_tiny()
    card = _save(model, tmp_path / "tiny")
    assert card["num_params"] == sum(p.numel() for p in model.parameters())
    assert read_card(tmp_path / "tiny.json")["config"] == {"width": 4, "kernel": [3, 3]}
    loaded = load_model(tmp_path / "tiny")
    x = torch.randn(3, 1, 5, 5)
    torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)


def test_fp16_storage_is_close(tmp_path):
    model = _trained_tiny()
    _save(model, tmp_path / "tiny16", dtype=torch.float16)
    loaded = load_model(tmp_path / "tiny16.safetensors")
    assert next(loaded.parameters()).dtype == torch.float32
    x = torch.randn(3, 1, 5, 5)
    torch.testing.assert_close(loaded(x), model(x), rtol=1e-2, atol=1e-2)


def test_truncated_file_names_the_file(tmp_path):
    _save(_trained_tiny(), tmp_path / "tiny")
    path = tmp_path / "tiny.safetensors"
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(WeightsError, match="tiny.safetensors.*sha256"):
        load_model(tmp_path / "tiny")


def test_missing_weights_and_bad_card(tmp_path):
    with pytest.raises(WeightsError, match="card not found"):
        load_model(tmp_path / "absent")
    _save(_trained_tiny(), tmp_path / "tiny")
    (tmp_path / "tiny.safetensors").unlink()
    with pytest.raises(WeightsError, match="weights file not found"):
        load_model(tmp_path / "tiny")
    (tmp_path / "bad.json").write_text('{"name": "bad"}')
    with pytest.raises(WeightsError, match="bad.json.*'model'"):
        read_card(tmp_path / "bad.json")


def test_weights_of_another_model_kind_are_refused_by_name(tmp_path):
    _save(_trained_tiny(), tmp_path / "tiny")
    assert isinstance(load_model(tmp_path / "tiny", kind=(nn.Linear, Tiny)), Tiny)
    with pytest.raises(WeightsError, match=r"test-tiny weights \(Tiny\), not Linear or Conv2d weights"):
        load_model(tmp_path / "tiny", kind=(nn.Linear, nn.Conv2d))


def test_config_mismatch_is_reported(tmp_path):
    import json

    _save(_trained_tiny(), tmp_path / "tiny")
    card = json.loads((tmp_path / "tiny.json").read_text())
    card["config"]["width"] = 8
    (tmp_path / "tiny.json").write_text(json.dumps(card))
    with pytest.raises(WeightsError, match="tiny.json.*parameters"):
        load_model(tmp_path / "tiny")


def test_model_state_from_weights_and_lightning_checkpoint(tmp_path):
    from recurrent.registry import model_state

    model = _trained_tiny()
    _save(model, tmp_path / "tiny")
    torch.save({"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()} | {"other.x": torch.zeros(1)}},
               tmp_path / "run.ckpt")
    for source in (str(tmp_path / "tiny"), str(tmp_path / "run.ckpt")):
        state = model_state(source)
        assert set(state) == set(model.state_dict())
        for key, value in model.state_dict().items():
            torch.testing.assert_close(state[key], value)


def test_record_metrics_replaces_only_the_metrics_and_their_command(tmp_path):
    _save(_trained_tiny(), tmp_path / "tiny")
    card = read_card(tmp_path / "tiny.json")
    assert record_metrics(tmp_path / "tiny.safetensors", {"acc": 0.5}, "bench --n 3") == tmp_path / "tiny.json"
    updated = read_card(tmp_path / "tiny.json")
    assert updated == card | {"metrics": {"acc": 0.5}, "metrics_command": "bench --n 3"}
    assert not list(tmp_path.glob(".*tmp"))
    with pytest.raises(WeightsError):
        record_metrics(tmp_path / "missing.safetensors", {}, "bench")


def test_build_model_starts_from_saved_weights_when_asked(tmp_path):
    source = _trained_tiny(width=3)
    _save(source, tmp_path / "tiny")
    fresh = build_model("test-tiny", {"width": 3})
    started = build_model("test-tiny", {"width": 3}, init_from=str(tmp_path / "tiny"))
    assert fresh.config.width == started.config.width == 3
    for key, value in source.state_dict().items():
        assert torch.equal(started.state_dict()[key], value)
    assert not torch.equal(fresh.conv.weight, source.conv.weight)
