"""Flow-equivariant RNNs vs the G-RNN on moving handwritten digits, held-out digit identities.

Prints the table (test MSE 10 → 10 at the training velocities, 10 → 30 rollouts, MSE at unseen
velocities, classification accuracy, equivariance error in float64, time per recurrent step) and writes
``fernn.json`` and ``fernn.png`` (length curves, velocity heat maps) to --out (default out/bench/fernn).
The same as ``rsuite fernn bench``; see ``rsuite fernn bench --help`` for the options.

    python bench/fernn.py --weights fernn-v1 fernn-v2 grnn --data-root data --threads 1 [--write-card]
"""

from __future__ import annotations

import sys

from apps.cli import run

if __name__ == "__main__":
    sys.exit(run("fernn", ["bench", *sys.argv[1:]]))
