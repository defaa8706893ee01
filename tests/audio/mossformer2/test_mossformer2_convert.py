import pytest
import torch

from audio.mossformer2.convert import convert_official
from audio.mossformer2.model import MossFormer2, MossFormer2Config
from recurrent.registry import count_params


def _official_shapes(N: int, R: int, S: int, qk: int = 128, inner: int = 256, lorder: int = 20) -> dict:
    """Key -> shape of ClearerVoice's ``MossFormer2_SS`` state dict, listed from its ``__init__`` methods
    (``MossFormer``, ``MossFormer_MaskNet``, ``Computation_Block``, ``MossFormerM``, ``MossformerBlock_GFSMN``,
    ``FLASH_ShareA_FFConvM``, ``Gated_FSMN_Block_Dilated``, ``UniDeepFsmn_dilated``, ``DilatedDenseNet``)."""
    shapes = {"model.enc.conv1d.weight": (N, 1, 16), "model.dec.weight": (N, 1, 16)}
    m = "model.mask_net."
    shapes |= {m + "norm.weight": (N,), m + "norm.bias": (N,), m + "conv1d_encoder.weight": (N, N, 1)}
    shapes |= {m + "pos_enc.scale": (1,), m + "pos_enc.inv_freq": (N // 2,)}

    def ffconvm(prefix, d_in, d_out, scalenorm):
        if scalenorm:
            norm = {prefix + "mdl.0.g": (1,)}
        else:
            norm = {prefix + "mdl.0.weight": (d_in,), prefix + "mdl.0.bias": (d_in,)}
        return norm | {
            prefix + "mdl.1.weight": (d_out, d_in),
            prefix + "mdl.1.bias": (d_out,),
            prefix + "mdl.3.sequential.1.conv.weight": (d_out, 1, 17),
        }

    for i in range(R):
        layer = f"{m}mdl.intra_mdl.mossformerM.layers.{i}."
        shapes |= ffconvm(layer + "to_hidden.", N, 4 * N, True) | ffconvm(layer + "to_qk.", N, qk, True)
        shapes |= ffconvm(layer + "to_out.", 2 * N, N, True)
        shapes |= {layer + "qk_offset_scale.gamma": (4, qk), layer + "qk_offset_scale.beta": (4, qk)}
        shapes[layer + "rotary_pos_emb.freqs"] = (16,)  # one shared module, saved under every layer
        block = f"{m}mdl.intra_mdl.mossformerM.fsmn.{i}."
        shapes |= {block + "conv1.0.weight": (inner, N, 1), block + "conv1.0.bias": (inner,)}
        shapes[block + "conv1.1.weight"] = (1,)
        for norm in ("norm1", "norm2"):
            shapes |= {block + f"{norm}.weight": (inner,), block + f"{norm}.bias": (inner,)}
        for proj in ("to_u", "to_v"):
            shapes |= ffconvm(block + f"gated_fsmn.{proj}.", inner, inner, False)
        fsmn = block + "gated_fsmn.fsmn."
        shapes |= {fsmn + "linear.weight": (inner, inner), fsmn + "linear.bias": (inner,)}
        shapes[fsmn + "project.weight"] = (inner, inner)
        for k in (1, 2):
            shapes |= {
                fsmn + f"conv.conv{k}.weight": (inner, k, 2 * lorder - 1, 1),
                fsmn + f"conv.norm{k}.weight": (inner,),
                fsmn + f"conv.norm{k}.bias": (inner,),
                fsmn + f"conv.prelu{k}.weight": (inner,),
            }
        shapes |= {block + "conv2.weight": (N, inner, 1), block + "conv2.bias": (N,)}
    shapes |= {m + "mdl.intra_mdl.norm.weight": (N,), m + "mdl.intra_mdl.norm.bias": (N,)}
    shapes |= {m + "mdl.intra_norm.weight": (N,), m + "mdl.intra_norm.bias": (N,), m + "prelu.weight": (1,)}
    shapes |= {m + "conv1d_out.weight": (N * S, N, 1), m + "conv1d_out.bias": (N * S,)}
    for gate in ("output", "output_gate"):
        shapes |= {m + f"{gate}.0.weight": (N, N, 1), m + f"{gate}.0.bias": (N,)}
    shapes[m + "conv1_decoder.weight"] = (N, N, 1)
    return shapes


def _config(N, R, S, qk=128, inner=256, lorder=20):
    return MossFormer2Config(
        channels=N,
        num_layers=R,
        num_speakers=S,
        query_key_dim=qk,
        rotary_dim=min(32, qk),
        fsmn_channels=inner,
        fsmn_lorder=lorder,
    )


@pytest.mark.parametrize("prefix", ["", "module."])
@pytest.mark.parametrize("speakers", [2, 3])
def test_official_keys_load_strictly(prefix, speakers):
    torch.manual_seed(0)
    shapes = _official_shapes(N=16, R=2, S=speakers, qk=8, inner=8, lorder=3)
    official = {prefix + k: torch.randn(shape) for k, shape in shapes.items()}
    converted = convert_official(official)
    model = MossFormer2(_config(16, 2, speakers, qk=8, inner=8, lorder=3))
    model.load_state_dict(converted)  # strict: every key of ours is produced, none left over
    # values travel unchanged (up to the dropped size-1 axis)
    ours = dict(model.named_parameters())
    stack = "model.mask_net.mdl.intra_mdl.mossformerM."
    pairs = {
        "model.enc.conv1d.weight": "encoder.weight",
        stack + "layers.1.to_out.mdl.3.sequential.1.conv.weight": "mask_net.attention.1.to_out.conv.weight",
        stack + "fsmn.0.conv1.0.weight": "mask_net.fsmn.0.conv1.weight",
        stack + "fsmn.1.gated_fsmn.fsmn.conv.conv2.weight": "mask_net.fsmn.1.gated_fsmn.fsmn.memory.convs.1.weight",
        stack + "fsmn.1.gated_fsmn.fsmn.conv.prelu1.weight": "mask_net.fsmn.1.gated_fsmn.fsmn.memory.acts.0.weight",
        "model.mask_net.conv1_decoder.weight": "mask_net.conv_mask.weight",
    }
    for theirs, mine in pairs.items():
        assert torch.equal(ours[mine].detach(), official[prefix + theirs].reshape(ours[mine].shape)), mine


def test_official_listing_counts_the_published_size():
    # The official parameters(): every listed tensor except the inv_freq buffer, the shared rotary table once.
    for speakers, ours in ((2, 55_735_394), (3, 55_998_050)):
        shapes = _official_shapes(N=512, R=24, S=speakers)
        numel = {k: torch.Size(s).numel() for k, s in shapes.items() if not k.endswith("inv_freq")}
        rotary = [k for k in numel if k.endswith("rotary_pos_emb.freqs")]
        official = sum(numel.values()) - 16 * (len(rotary) - 1)
        assert official == ours + 16
        with torch.device("meta"):
            assert count_params(MossFormer2(_config(512, 24, speakers))) == ours


def test_unknown_keys_are_named():
    with pytest.raises(KeyError, match="decoder.bias"):
        convert_official({"model.decoder.bias": torch.zeros(1)})
