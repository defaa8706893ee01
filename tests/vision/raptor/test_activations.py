import torch

from vision.raptor.activations import ActivationChunks, extract, load_states
from vision.raptor.teacher import token_states, vit_fmnist


def test_cache_round_trip_in_chunks_and_resumes(tmp_path):
    torch.manual_seed(0)
    teacher = vit_fmnist(depth=2, dim=24, heads=2).eval()
    images, labels = torch.randn(23, 1, 28, 28), torch.arange(23) % 10
    seen = []
    meta = extract(teacher, images, labels, tmp_path, chunk=10, batch_size=4, on_batch=seen.append)
    assert meta == {"count": 23, "chunk": 10, "layers": 3, "tokens": 21, "dim": 24, "num_prefix": 5} and sum(seen) == 23
    states, cached_labels = load_states(tmp_path)
    with torch.no_grad():
        expected = token_states(teacher, images)
    torch.testing.assert_close(states, expected.half().float())
    assert torch.equal(cached_labels, labels)
    assert load_states(tmp_path, limit=12)[0].shape[1] == 12
    stamp = (tmp_path / "chunk_00000.safetensors").stat().st_mtime_ns
    extract(teacher, images, labels, tmp_path, chunk=10)  # complete chunks are kept
    assert (tmp_path / "chunk_00000.safetensors").stat().st_mtime_ns == stamp
    items = list(ActivationChunks(tmp_path, shuffle=False))
    assert len(items) == 23 and items[0][0].shape == (3, 21, 24)
    assert sorted(int(label) for _, label in ActivationChunks(tmp_path)) == sorted(labels.tolist())
