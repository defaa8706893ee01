"""Official MossFormer2 checkpoints (modelscope/ClearerVoice-Studio) -> :class:`audio.mossformer2.model.MossFormer2`.

The official separator is ``MossFormer2_SS`` wrapping ``MossFormer`` as ``.model`` (keys ``model.enc…``,
``model.mask_net…``, ``model.dec…``; a ``module.`` prefix when saved from DataParallel). Every official key
maps to one of ours by the explicit table below; 1×1 ``Conv1d`` projections of the recurrent module become
``nn.Linear`` and the ``(C, k, K, 1)`` ``Conv2d`` FSMN kernels become ``(C, k, K)`` ``Conv1d`` kernels (the
trailing axis is dropped). Fixed tables that the official code saves (the sinusoid's ``inv_freq`` and each
layer's copy of the shared rotary ``freqs``) are computed by our modules and dropped.
"""

from __future__ import annotations

import re

import torch

_LAYER = r"mask_net\.mdl\.intra_mdl\.mossformerM\.layers\.(\d+)\."
_FSMN = r"mask_net\.mdl\.intra_mdl\.mossformerM\.fsmn\.(\d+)\."
_MEMORY = "mask_net.fsmn.{0}.gated_fsmn.fsmn.memory."
_FFCONVM = {"mdl.0": "norm", "mdl.1": "linear", "mdl.3.sequential.1.conv": "conv"}

# (official key regex, our key template, drop the trailing size-1 axis); the first full match wins.
_RULES: list[tuple[str, str, bool]] = [
    (r"enc\.conv1d\.weight", "encoder.weight", False),
    (r"dec\.weight", "decoder.weight", False),
    (r"mask_net\.norm\.(weight|bias)", r"mask_net.norm.\1", False),
    (r"mask_net\.conv1d_encoder\.weight", "mask_net.conv_in.weight", False),
    (r"mask_net\.pos_enc\.scale", "mask_net.pos_enc.scale", False),
    *(
        (
            _LAYER + rf"(to_hidden|to_qk|to_out)\.{re.escape(theirs)}\.(g|weight|bias)",
            rf"mask_net.attention.\1.\2.{ours}.\3",
            False,
        )
        for theirs, ours in _FFCONVM.items()
    ),
    (_LAYER + r"qk_offset_scale\.(gamma|beta)", r"mask_net.attention.\1.qk_offset_scale.\2", False),
    (_FSMN + r"conv1\.0\.weight", r"mask_net.fsmn.\1.conv1.weight", True),
    (_FSMN + r"conv1\.0\.bias", r"mask_net.fsmn.\1.conv1.bias", False),
    (_FSMN + r"conv1\.1\.weight", r"mask_net.fsmn.\1.act.weight", False),
    (_FSMN + r"(norm1|norm2)\.(weight|bias)", r"mask_net.fsmn.\1.\2.\3", False),
    (_FSMN + r"conv2\.weight", r"mask_net.fsmn.\1.conv2.weight", True),
    (_FSMN + r"conv2\.bias", r"mask_net.fsmn.\1.conv2.bias", False),
    *(
        (
            _FSMN + rf"gated_fsmn\.(to_u|to_v)\.{re.escape(theirs)}\.(weight|bias)",
            rf"mask_net.fsmn.\1.gated_fsmn.\2.{ours}.\3",
            False,
        )
        for theirs, ours in _FFCONVM.items()
    ),
    (
        _FSMN + r"gated_fsmn\.fsmn\.(linear\.weight|linear\.bias|project\.weight)",
        r"mask_net.fsmn.\1.gated_fsmn.fsmn.\2",
        False,
    ),
    # official DilatedDenseNet numbers its layers conv1, norm1, prelu1, … from 1; ours index lists from 0
    (_FSMN + r"gated_fsmn\.fsmn\.conv\.conv(\d+)\.weight", _MEMORY + "convs.{1}.weight", True),
    (_FSMN + r"gated_fsmn\.fsmn\.conv\.norm(\d+)\.(weight|bias)", _MEMORY + "norms.{1}.{2}", False),
    (_FSMN + r"gated_fsmn\.fsmn\.conv\.prelu(\d+)\.weight", _MEMORY + "acts.{1}.weight", False),
    (r"mask_net\.mdl\.intra_mdl\.norm\.(weight|bias)", r"mask_net.layer_norm.\1", False),
    (r"mask_net\.mdl\.intra_norm\.(weight|bias)", r"mask_net.group_norm.\1", False),
    (r"mask_net\.prelu\.weight", "mask_net.prelu.weight", False),
    (r"mask_net\.conv1d_out\.(weight|bias)", r"mask_net.conv_out.\1", False),
    (r"mask_net\.output\.0\.(weight|bias)", r"mask_net.output.\1", False),
    (r"mask_net\.output_gate\.0\.(weight|bias)", r"mask_net.output_gate.\1", False),
    (r"mask_net\.conv1_decoder\.weight", "mask_net.conv_mask.weight", False),
]

_DROPPED = [r"mask_net\.pos_enc\.inv_freq", _LAYER + r"rotary_pos_emb\.freqs"]


def convert_official(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename and reshape an official MossFormer2 separation state dict into ours.

    Accepts keys with or without the ``module.`` and ``model.`` prefixes. Raises ``KeyError`` naming any
    key the table does not know (a checkpoint of another architecture). Load the result with
    ``model.load_state_dict(converted)`` (strict) into a model built with the checkpoint's config
    (ClearerVoice's separation models: ``mossformer2`` with ``channels=512, num_layers=24``).
    """
    converted: dict[str, torch.Tensor] = {}
    unknown = []
    for key, tensor in state_dict.items():
        name = key.removeprefix("module.").removeprefix("model.")
        if any(re.fullmatch(pattern, name) for pattern in _DROPPED):
            continue
        for pattern, template, squeeze in _RULES:
            match = re.fullmatch(pattern, name)
            if match is None:
                continue
            if "{" in template:  # the FSMN memory: official layer k (from 1) -> our index k - 1
                block, layer, *rest = match.groups()
                ours = template.format(block, int(layer) - 1, *rest)
            else:
                ours = match.expand(template)
            converted[ours] = tensor.squeeze(-1) if squeeze else tensor
            break
        else:
            unknown.append(key)
    if unknown:
        more = " …" if len(unknown) > 5 else ""
        raise KeyError(f"not official MossFormer2 separation keys: {', '.join(unknown[:5])}{more}")
    return converted
