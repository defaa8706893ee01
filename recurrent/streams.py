"""Random streams for endless training datasets (dynamic mixing, synthetic strings, camera clips).

A ``torch.utils.data.IterableDataset`` that seeds its generator from ``torch.initial_seed()`` alone
replays the same items every epoch: that seed is fixed for the life of a process, and a DataLoader with
``persistent_workers`` (or none) keeps the same process across epochs. :func:`pass_rng` adds the pass
number, counted on the dataset object in the process that iterates it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import get_worker_info


def pass_rng(dataset: object, seed: int = 0) -> np.random.Generator:
    """A generator for one pass over ``dataset``: distinct per pass (epoch), per DataLoader worker and
    per process seed (so ``seed_everything`` makes a run reproducible); call it at the top of ``__iter__``."""
    passes = getattr(dataset, "_passes", 0)
    dataset._passes = passes + 1
    info = get_worker_info()
    worker = info.id if info else 0
    return np.random.default_rng([seed, worker, passes, int(torch.initial_seed()) % 2**32])


def worker_share(items: int) -> int:
    """How many of an epoch's ``items`` this DataLoader worker (or the main process) should yield."""
    info = get_worker_info()
    return items // (info.num_workers if info else 1)
