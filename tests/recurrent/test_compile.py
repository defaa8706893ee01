"""The recurrent loops of FRVSR, Raptor and FERNN compile without graph breaks and give the eager outputs."""

import torch

from recurrent.compile import compile_for
from vision.fernn.model import fernn_v1
from vision.frvsr.model import frvsr_x4
from vision.raptor.surrogate import raptor


def test_frvsr_streaming_step_compiles_and_matches():
    torch.manual_seed(0)
    model = frvsr_x4(num_blocks=1, channels=8, fnet_channels=(4, 4, 8, 8)).eval()
    frames = torch.rand(3, 1, 3, 16, 24)
    step = compile_for(model.step, "cpu", backend="eager")
    eager_state = compiled_state = None
    with torch.no_grad():
        for frame in frames:
            eager, eager_state = model.step(frame, eager_state)
            compiled, compiled_state = step(frame, compiled_state)
            torch.testing.assert_close(compiled, eager)


def test_raptor_depth_loop_compiles_and_matches():
    torch.manual_seed(0)
    model = raptor(dim=16, heads=2, schedule=(2, 3)).eval()
    tokens = torch.randn(2, 5, 16)
    with torch.no_grad():
        torch.testing.assert_close(compile_for(model, "cpu", backend="eager")(tokens), model(tokens))


def test_fernn_time_loop_compiles_and_matches():
    torch.manual_seed(0)
    model = fernn_v1(hidden_channels=4).eval()
    frames = torch.rand(2, 4, 1, 12, 12)
    with torch.no_grad():
        torch.testing.assert_close(compile_for(model.classify, "cpu", backend="eager")(frames), model.classify(frames))
