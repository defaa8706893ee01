import pytest
import timm
import torch

from recurrent.registry import count_params
from vision.raptor.teacher import convert_dinov2, load_teacher, token_states, vit_fmnist


def official_dinov2_state(model) -> dict[str, torch.Tensor]:
    """``model``'s weights under the official facebookresearch/dinov2 keys."""
    state = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("head.")}
    state["mask_token"] = torch.zeros(1, model.embed_dim)
    if "reg_token" in state:  # official: registers apart, the class token's position inside pos_embed
        cls_position = torch.randn(1, 1, model.embed_dim)
        state["register_tokens"] = state.pop("reg_token")
        state["cls_token"] = state["cls_token"] - cls_position
        state["pos_embed"] = torch.cat([cls_position, state["pos_embed"]], 1)
    return state


@pytest.mark.parametrize("name", ["vit_small_patch14_dinov2", "vit_small_patch14_reg4_dinov2"])
def test_official_dinov2_checkpoint_loads_with_identical_outputs(name, tmp_path):
    torch.manual_seed(0)
    kwargs = dict(img_size=56, depth=2, num_classes=0)
    reference = timm.create_model(name, pretrained=False, **kwargs).eval()
    for p in reference.parameters():  # LayerScale starts at 1e-5: make the blocks matter
        p.data.normal_(0, 0.05)
    path = tmp_path / "dinov2.pth"
    torch.save(official_dinov2_state(reference), path)
    converted = timm.create_model(name, pretrained=False, **kwargs).eval()
    converted.load_state_dict(convert_dinov2(torch.load(path), converted), strict=False)
    images = torch.randn(2, 3, 56, 56)
    torch.testing.assert_close(token_states(converted, images), token_states(reference, images))
    with pytest.raises(ValueError, match="mask_token"):
        convert_dinov2(reference.state_dict(), converted)


def test_load_teacher_reads_an_official_file(tmp_path):
    torch.manual_seed(1)
    reference = timm.create_model("vit_small_patch14_reg4_dinov2", pretrained=False, img_size=56, depth=2, num_classes=0).eval()
    torch.save(official_dinov2_state(reference), tmp_path / "w.pth")
    # depth must match the file: a 12-block model refuses the 2-block checkpoint
    with pytest.raises(ValueError, match="does not fit"):
        load_teacher("vit_small_patch14_reg4_dinov2", tmp_path / "w.pth", image_size=56)


def test_embedded_teacher_shapes_and_size():
    model = vit_fmnist().eval()
    assert count_params(model) == 5_358_922
    images = torch.randn(3, 1, 28, 28)
    states = token_states(model, images)
    assert states.shape == (13, 3, 1 + 4 + 16, 192) and model.num_prefix_tokens == 5
    # the last state is what timm's own forward feeds its head
    torch.testing.assert_close(model.forward_head(model.norm(states[-1])), model(images))
