"""The fused temporal convolution equals its PyTorch reference, forward and backward; the backend switch."""

import pytest
import torch

from recurrent.backend import backend
from recurrent.temporal_conv import pad_time, temporal_conv, temporal_conv_reference

CASES = [  # (groups, per_group, taps, dilation, causal, residual, channels_last)
    (5, 1, 17, 1, False, True, True),  # FFConvM
    (6, 1, 39, 1, True, True, False),  # causal plain FSMN memory
    (4, 2, 39, 2, False, False, False),  # second dilated dense layer
    (3, 1, 4, 3, True, False, True),  # even kernel, causal
]


@pytest.mark.parametrize("case", CASES, ids=[f"g{c[0]}c{c[1]}k{c[2]}d{c[3]}" for c in CASES])
def test_fused_equals_reference_forward_and_backward(case):
    groups, per_group, taps, dilation, causal, residual, channels_last = case
    torch.manual_seed(0)
    shape = (2, 23, groups * per_group) if channels_last else (2, groups * per_group, 23)
    x = torch.randn(shape).transpose(1, 2) if channels_last else torch.randn(shape)
    weight = torch.randn(groups, per_group, taps)
    outputs, grads = [], []
    for name in ("torch", "triton"):
        xi, wi = x.detach().requires_grad_(), weight.detach().requires_grad_()
        with backend(name):
            out = temporal_conv(xi, wi, dilation, causal, residual)
        out.backward(torch.cos(torch.arange(out.numel(), dtype=out.dtype)).view_as(out))
        outputs.append(out)
        grads.append((xi.grad, wi.grad))
    torch.testing.assert_close(outputs[1], outputs[0], rtol=1e-5, atol=1e-5)
    for fused, reference in zip(grads[1], grads[0]):
        torch.testing.assert_close(fused, reference)


def test_reference_is_a_same_length_grouped_convolution():
    x = torch.zeros(1, 1, 9)
    x[0, 0, 4] = 1.0
    weight = torch.arange(1.0, 4.0).view(1, 1, 3)
    # centred: the impulse response is the kernel flipped around t = 4 (cross-correlation)
    assert temporal_conv_reference(x, weight)[0, 0].tolist() == [0, 0, 0, 3, 2, 1, 0, 0, 0]
    # causal: output t sees inputs t-2..t only
    assert temporal_conv_reference(x, weight, causal=True)[0, 0].tolist() == [0, 0, 0, 0, 3, 2, 1, 0, 0]
    assert pad_time(x, 3, 2, True).shape[-1] == 13


def test_bad_shapes_and_backends():
    with pytest.raises(ValueError, match="expects x"):
        temporal_conv(torch.randn(1, 4, 8), torch.randn(3, 1, 3))
    with pytest.raises(ValueError, match="residual"):
        temporal_conv(torch.randn(1, 4, 8), torch.randn(2, 2, 3), residual=True)
    with pytest.raises(ValueError, match="backend must be"):
        with backend("cudnn"):
            pass


def test_auto_keeps_cpu_tensors_on_the_reference(monkeypatch):
    import recurrent.temporal_conv as module

    monkeypatch.setattr(module, "temporal_conv_reference", lambda *a, **k: "reference")
    with backend("auto"):
        assert temporal_conv(torch.randn(1, 2, 8), torch.randn(2, 1, 3)) == "reference"


def test_forced_triton_without_a_gpu_or_interpreter_is_an_error(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with backend("triton"), pytest.raises(RuntimeError, match="needs Triton and CUDA"):
        temporal_conv(torch.randn(1, 2, 8), torch.randn(2, 1, 3))


def test_fused_backward_under_autocast_reaches_the_float32_weight():
    """Under bf16 autocast x arrives in bf16 while the conv weight stays float32."""
    torch.manual_seed(0)
    x = torch.randn(2, 4, 16, dtype=torch.bfloat16, requires_grad=True)
    weight = torch.randn(4, 1, 5, requires_grad=True)
    with backend("triton"):
        out = temporal_conv(x, weight, residual=True)
    out.float().sum().backward()
    assert out.dtype == torch.bfloat16 and weight.grad.dtype == torch.float32 and x.grad is not None
