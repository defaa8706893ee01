import os

import torch

# Two cores shared with background training: one intra-op thread keeps small-tensor tests fast and steady.
torch.set_num_threads(1)

# Without a GPU the fused Triton kernels run through Triton's interpreter (read when a kernel is defined).
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
