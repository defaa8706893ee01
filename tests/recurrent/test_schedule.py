import math
from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch.callbacks import Timer

from recurrent.schedule import warmup_cosine


class _FakeTimer(Timer):
    def __init__(self, duration_s: float):
        super().__init__(duration={"seconds": duration_s})
        self.elapsed = 0.0

    def time_elapsed(self, stage="train"):
        return self.elapsed


def _lr_after(scheduler, optimizer, steps):
    for _ in range(steps):
        optimizer.step()
        scheduler.step()
    return optimizer.param_groups[0]["lr"]


def _setup(total_steps, callbacks=()):
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    trainer = SimpleNamespace(estimated_stepping_batches=total_steps, callbacks=list(callbacks))
    return optimizer, warmup_cosine(optimizer, trainer, warmup_steps=10, final_fraction=0.01)["scheduler"]


def test_step_schedule_warms_up_then_decays_to_the_final_fraction():
    optimizer, scheduler = _setup(110)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1)  # step 0 of a 10-step warm-up
    assert _lr_after(scheduler, optimizer, 9) == pytest.approx(1.0)
    halfway = _lr_after(scheduler, optimizer, 51)  # step 60: half of the 100 decay steps
    assert halfway == pytest.approx(0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert _lr_after(scheduler, optimizer, 100) == pytest.approx(0.01)  # stays at the floor past the end


def test_time_budget_ends_the_decay_before_the_steps_do():
    timer = _FakeTimer(100.0)
    optimizer, scheduler = _setup(10**6, [timer])
    _lr_after(scheduler, optimizer, 20)
    timer.elapsed = 45.0  # half of 90 % of the budget
    assert _lr_after(scheduler, optimizer, 1) == pytest.approx(0.5 + 0.005, abs=1e-6)
    timer.elapsed = 95.0
    assert _lr_after(scheduler, optimizer, 1) == pytest.approx(0.01)
