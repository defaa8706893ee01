"""Teacher ViTs for Raptor: the embedded Fashion-MNIST teacher, any timm ViT, DINOv2 official checkpoints.

Token states are read the way timm runs a ViT: ``patch_embed → _pos_embed (class, register tokens and
position embeddings) → patch_drop → norm_pre`` gives layer 0, then one state after each block. The token
order is [class, registers…, patches…]; ``num_prefix_tokens`` counts the first two groups.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import timm
import torch
from safetensors.torch import load_file
from timm.models.vision_transformer import VisionTransformer, checkpoint_filter_fn

from recurrent.registry import make_config, register_model
from vision.raptor.data import MEAN, STD


@dataclass(frozen=True)
class ViTConfig:
    image_size: int = 28  # px, square
    in_channels: int = 1
    patch_size: int = 7  # a 4 × 4 grid of patches at 28 px
    dim: int = 192  # ViT-Tiny width
    depth: int = 12
    heads: int = 3
    register_tokens: int = 4
    num_classes: int = 10
    layerscale_init: float = 1e-5  # DINOv2's LayerScale
    drop_path: float = 0.1  # stochastic depth, which the Raptor paper finds promotes block-recurrence


def build_vit(config: ViTConfig) -> VisionTransformer:
    model = VisionTransformer(
        img_size=config.image_size, patch_size=config.patch_size, in_chans=config.in_channels,
        num_classes=config.num_classes, embed_dim=config.dim, depth=config.depth, num_heads=config.heads,
        reg_tokens=config.register_tokens, no_embed_class=True, init_values=config.layerscale_init,
        drop_path_rate=config.drop_path,
    )
    model.config = config
    # what timm's resolve_data_config reads to prepare images (Fashion-MNIST statistics for 1 channel)
    channels = config.in_channels
    model.pretrained_cfg = {"input_size": (channels, config.image_size, config.image_size), "interpolation": "bilinear",
                            "crop_pct": 1.0, "mean": (MEAN,) * channels, "std": (STD,) * channels}
    return model


@register_model("vit-fmnist")
def vit_fmnist(**overrides) -> VisionTransformer:
    """The embedded teacher: ViT-Tiny width (192), 12 layers, 3 heads, 4 registers, patches of 7 px on 28 × 28
    gray images, LayerScale and stochastic depth 0.1; 5,358,922 parameters."""
    return build_vit(make_config(ViTConfig(), overrides))


def convert_dinov2(state_dict: dict[str, torch.Tensor], model: VisionTransformer) -> dict[str, torch.Tensor]:
    """An official DINOv2 state dict (``facebookresearch/dinov2`` keys: ``register_tokens``, ``mask_token``,
    class token outside the no-class position grid, ``mlp.w12/w3`` for SwiGLU) as ``model``'s timm keys,
    position embeddings resampled to its grid (timm's own ``checkpoint_filter_fn``)."""
    if "mask_token" not in state_dict:
        raise ValueError("not an official DINOv2 state dict (no 'mask_token')")
    return checkpoint_filter_fn(dict(state_dict), model)


def load_teacher(name: str, weights: str | Path | None = None, image_size: int | None = None) -> VisionTransformer:
    """A timm ViT by name (``vit_small_patch14_reg4_dinov2``, …) or a registered teacher (``vit-fmnist``),
    with weights from a local ``.safetensors`` / ``.pth`` file in timm or official DINOv2 format."""
    from recurrent.registry import list_models, load_model

    if name in list_models():
        return load_model(str(weights) if weights else name, kind=VisionTransformer).eval()
    kwargs = {"img_size": image_size} if image_size else {}
    model = timm.create_model(name, pretrained=False, num_classes=0, **kwargs)
    if weights is not None:
        path = Path(weights)
        try:
            state = load_file(str(path)) if path.suffix == ".safetensors" else torch.load(path, map_location="cpu", weights_only=True)
            state = convert_dinov2(state, model) if "mask_token" in state else checkpoint_filter_fn(state, model)
            missing, unexpected = model.load_state_dict(state, strict=False)
        except Exception as error:  # safetensors, pickle and torch raise many types for a file that is not a checkpoint
            raise ValueError(f"{path}: not a readable {name} checkpoint ({type(error).__name__})") from None
        if [k for k in missing + unexpected if not k.startswith("head.")]:
            raise ValueError(f"{path}: does not fit {name}: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model.eval()


def embed(model: VisionTransformer, images: torch.Tensor) -> torch.Tensor:
    """Layer-0 tokens (B, N, C) of images (B, in_channels, H, W)."""
    return model.norm_pre(model.patch_drop(model._pos_embed(model.patch_embed(images))))


def token_states(model: VisionTransformer, images: torch.Tensor) -> torch.Tensor:
    """Every layer's tokens: (depth + 1, B, N, C); index 0 is the embedding, index l the output of block l."""
    x = embed(model, images)
    states = [x]
    for block in model.blocks:
        x = block(x)
        states.append(x)
    return torch.stack(states)
