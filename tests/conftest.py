import torch

# Two cores shared with background training: one intra-op thread keeps small-tensor tests fast and steady.
torch.set_num_threads(1)
