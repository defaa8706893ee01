"""MossFormer2 speech separation (Zhao et al., ICASSP 2024)."""
