"""Which implementation the fused blocks run, and how their gradients flow.

Backends (``set_backend``, the ``backend`` context manager, or the environment variable
``RSUITE_BACKEND`` read at import):

* ``"auto"`` (default): the fused Triton kernels for CUDA tensors when Triton imports, the PyTorch
  reference everywhere else, and the reference inside ``torch.compile`` (Inductor fuses it itself);
* ``"torch"``: always the PyTorch reference;
* ``"triton"``: always the kernels — on CUDA, or on the CPU under ``TRITON_INTERPRET=1`` (how the
  parity tests run them without a GPU); anything else is an error.

The kernels compute forward passes only. Their gradients come from :class:`FusedForward`, which
re-runs the PyTorch reference on the saved inputs in ``backward`` — training pays one reference
forward per fused call, inference (the apps) gets the fused kernel alone.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.autograd.function import once_differentiable

BACKENDS = ("auto", "torch", "triton")
_selected = {"name": os.environ.get("RSUITE_BACKEND", "auto")}


def set_backend(name: str) -> None:
    """Select ``"auto"``, ``"torch"`` or ``"triton"`` for every fused block, process-wide."""
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
    _selected["name"] = name


def get_backend() -> str:
    return _selected["name"]


@contextlib.contextmanager
def backend(name: str) -> Iterator[None]:
    """``with backend("torch"): ...`` — the selection inside the block, restored after it."""
    previous = get_backend()
    set_backend(name)
    try:
        yield
    finally:
        set_backend(previous)


@functools.cache
def triton_available() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def use_fused(*tensors: torch.Tensor) -> bool:
    """Whether a fused block called on ``tensors`` runs its Triton kernel under the current backend.

    The kernels address one batch item with int32 offsets: tensors whose first item holds 2³¹ elements
    or more always take the reference.
    """
    name = get_backend()
    if name not in BACKENDS:
        raise ValueError(f"RSUITE_BACKEND must be one of {BACKENDS}, got {name!r}")
    if name == "torch" or torch.compiler.is_compiling() or any(t[0].numel() >= 2**31 for t in tensors):
        return False
    on_cuda = all(t.is_cuda for t in tensors)
    if name == "auto":
        return on_cuda and triton_available()
    interpreted = os.environ.get("TRITON_INTERPRET") == "1" and all(t.device.type == "cpu" for t in tensors)
    if not (triton_available() and (on_cuda or interpreted)):
        raise RuntimeError("backend 'triton' needs Triton and CUDA tensors (or TRITON_INTERPRET=1 with CPU tensors)")
    return True


class FusedForward(torch.autograd.Function):
    """``kernel(*tensors, **options)`` forward; gradients of ``reference(*tensors, **options)`` backward.

    ``kernel`` and ``reference`` must compute the same function of the tensors (the parity tests
    check it). Every positional tensor is saved for the re-run; ``options`` holds the non-tensor arguments.
    """

    @staticmethod
    def forward(ctx: Any, kernel: Callable, reference: Callable, options: dict, *tensors: torch.Tensor) -> torch.Tensor:
        ctx.reference, ctx.options = reference, options
        ctx.save_for_backward(*tensors)
        return kernel(*tensors, **options)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        wanted = ctx.needs_input_grad[3:]
        inputs = [t.detach().requires_grad_(w) for t, w in zip(ctx.saved_tensors, wanted)]
        with torch.enable_grad():
            out = ctx.reference(*inputs, **ctx.options)
        differentiated = [t for t, w in zip(inputs, wanted) if w]
        grads = iter(torch.autograd.grad(out, differentiated, grad))
        return (None, None, None, *(next(grads) if w else None for w in wanted))
