"""CPU <-> CUDA and eager <-> compiled parity of the shared blocks and the shipped systems.

Marker ``cuda``: skipped where no GPU is present (``make test`` deselects it); run on the lent GPU
machine with ``python3 -m pytest -m cuda tests/test_cuda.py``.
"""

import pytest
import torch

from recurrent.block_recurrent import Block, BlockRecurrent
from recurrent.conv_rnn import ConvGRUCell, ConvRNNCell
from recurrent.fsmn import GatedFSMNBlock
from recurrent.runner import run_sequence
from recurrent.seq import BiLSTMEncoder
from recurrent.warp import upsample_flow, warp
from vision.digits.model import crnn_digits

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
