"""CPU <-> CUDA and eager <-> compiled parity of the shared blocks and the shipped systems.

Marker ``cuda``: skipped where no GPU is present (``make test`` deselects it); run on the lent GPU
machine with ``python3 -m pytest -m cuda tests/test_cuda.py``.
"""

import pytest
import torch

from recurrent.backend import backend
from recurrent.block_recurrent import Block, BlockRecurrent
from recurrent.conv_rnn import ConvGRUCell, ConvRNNCell
from recurrent.fsmn import GatedFSMNBlock
from recurrent.runner import run_sequence
from recurrent.seq import BiLSTMEncoder
from recurrent.temporal_conv import temporal_conv
from recurrent.warp import upsample_flow, warp, warp_to_depth
from vision.digits.model import crnn_digits
from vision.frvsr.infer import Upscaler
from vision.frvsr.model import frvsr_x4

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def _gru_sequence(cell, x):
    def step(x_t, h):
        h = cell(x_t, h)
        return h, h

    return run_sequence(step, x)[0]


def _cases():
    """(name, module, call(module, *inputs), inputs)"""
    torch.manual_seed(0)
    apply = lambda module, *xs: module(*xs)  # noqa: E731
    yield "warp", torch.nn.Identity(), (lambda _, image, flow: warp(image, upsample_flow(flow, 2))), (
        torch.randn(2, 3, 16, 16), torch.randn(2, 2, 8, 8))
    yield "conv_gru_sequence", ConvGRUCell(3, 8, padding_mode="circular"), _gru_sequence, (torch.randn(2, 5, 3, 12, 12),)
    yield "conv_rnn", ConvRNNCell(3, 8, padding_mode="circular"), apply, (torch.randn(2, 3, 12, 12),)
    yield "fsmn", GatedFSMNBlock(64, inner_channels=32), apply, (torch.randn(2, 50, 64),)
    yield "block_recurrent", BlockRecurrent(torch.nn.ModuleList([Block(32, 4), Block(32, 4)]), (3, 2), 32), apply, (
        torch.randn(2, 10, 32),)
    yield "bilstm", BiLSTMEncoder(16, 32, 11), apply, (torch.randn(2, 20, 16),)
    yield "crnn_digits", crnn_digits().eval(), apply, (torch.randn(4, 1, 32, 120),)


CASES = list(_cases())
IDS = [case[0] for case in CASES]


@pytest.mark.parametrize("name,module,call,inputs", CASES, ids=IDS)
def test_cpu_cuda_parity(name, module, call, inputs):
    with torch.no_grad():
        expected = call(module.cpu(), *inputs)
        got = call(module.cuda(), *(x.cuda() for x in inputs))
    torch.testing.assert_close(got.cpu(), expected, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("name,module,call,inputs", CASES, ids=IDS)
def test_eager_compiled_parity(name, module, call, inputs):
    module, inputs = module.cuda(), [x.cuda() for x in inputs]
    with torch.no_grad():
        expected = call(module, *inputs)
        got = torch.compile(call)(module, *inputs)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("name,module,call,inputs", CASES, ids=IDS)
def test_autocast_runs(name, module, call, inputs, dtype):
    with torch.no_grad(), torch.autocast("cuda", dtype=dtype):
        out = call(module.cuda(), *(x.cuda() for x in inputs))
    assert torch.isfinite(out.float()).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("channels_last", [False, True])
def test_fused_temporal_conv_matches_reference_on_cuda(dtype, channels_last):
    torch.manual_seed(0)
    shape = (2, 300, 64) if channels_last else (2, 64, 300)
    x = torch.randn(shape, device="cuda", dtype=dtype)
    x = x.transpose(1, 2) if channels_last else x  # (B, C, T) with channel stride 1, or time stride 1
    weight = torch.randn(32, 2, 39, device="cuda", dtype=dtype) * 0.1
    results = []
    for name in ("torch", "triton"):
        xi, wi = x.detach().requires_grad_(), weight.detach().requires_grad_()
        with backend(name):
            out = temporal_conv(xi, wi, dilation=2)
        out.float().square().sum().backward()
        results.append((out.float(), xi.grad.float(), wi.grad.float()))
    tol = 1e-4 if dtype == torch.float32 else 3e-2
    for fused, reference in zip(results[1], results[0]):
        torch.testing.assert_close(fused, reference, rtol=tol, atol=tol)


def test_fused_warp_to_depth_matches_reference_on_cuda():
    torch.manual_seed(0)
    image = torch.rand(2, 3, 96, 128, device="cuda", requires_grad=True)
    flow = (torch.randn(2, 2, 24, 32, device="cuda") * 4).requires_grad_()
    results = []
    for name in ("torch", "triton"):
        with backend(name):
            out = warp_to_depth(image, flow, 4)
        grads = torch.autograd.grad(out.square().sum(), (image, flow))
        results.append((out, *grads))
    for fused, reference in zip(results[1], results[0]):
        torch.testing.assert_close(fused, reference, rtol=1e-4, atol=1e-4)


def test_compiled_streaming_upscaler_with_cuda_graphs_matches_eager():
    torch.manual_seed(0)
    model = frvsr_x4(num_blocks=2, channels=16, fnet_channels=(8, 8, 16, 16))
    frames = torch.rand(5, 1, 3, 32, 48)
    eager = Upscaler(model, "cuda")
    compiled = Upscaler(model, "cuda", compile=True)
    for frame in frames:
        torch.testing.assert_close(compiled.upscale(frame), eager.upscale(frame), rtol=1e-4, atol=1e-4)
