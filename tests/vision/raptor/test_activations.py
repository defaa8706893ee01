import torch

from vision.raptor.activations import ActivationChunks, extract, load_states
from vision.raptor.teacher import token_states, vit_fmnist


def test_cache_round_trip_in_chunks_and_resumes(tmp_path):
    torch.manual_seed(0)
    teacher = vit_fmnist(depth=2, dim=24, heads=2).eval()
    images, labels = torch.randn(23, 1, 28, 28), torch.arange(23) % 10
    seen = []
    meta = extract(teacher, images, labels, tmp_path, chunk=10, batch_size=4, on_batch=seen.append)
    assert meta.pop("fingerprint") and sum(seen) == 23
    assert meta == {"count": 23, "chunk": 10, "layers": 3, "tokens": 21, "dim": 24, "num_prefix": 5}
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


def test_a_reused_cache_holds_exactly_the_states_asked_for(tmp_path):
    torch.manual_seed(0)
    teacher, other = (vit_fmnist(depth=2, dim=24, heads=2).eval() for _ in range(2))
    images, labels = torch.randn(23, 1, 28, 28), torch.arange(23) % 10

    def stamps():  # a redone chunk is a new file (written beside, then renamed): a new inode
        return [p.stat().st_ino for p in sorted(tmp_path.glob("chunk_*.safetensors"))]

    first = extract(teacher, images, labels, tmp_path, chunk=10)["fingerprint"]
    before = stamps()
    fewer = extract(teacher, images[:15], labels[:15], tmp_path, chunk=10)["fingerprint"]  # chunk 0 kept, 1 redone, 2 gone
    assert stamps()[0] == before[0] and stamps()[1] != before[1] and len(stamps()) == 2 and fewer != first
    assert load_states(tmp_path)[0].shape[1] == 15
    extract(other, images[:15], labels[:15], tmp_path, chunk=10)  # another teacher: every chunk redone
    with torch.no_grad():
        torch.testing.assert_close(load_states(tmp_path)[0], token_states(other, images[:15]).half().float())
    assert extract(teacher, images, labels, tmp_path, chunk=10)["fingerprint"] == first


def test_damaged_and_foreign_chunk_files_are_redone_or_removed(tmp_path):
    torch.manual_seed(0)
    teacher = vit_fmnist(depth=2, dim=24, heads=2).eval()
    images, labels = torch.randn(12, 1, 28, 28), torch.arange(12) % 10
    extract(teacher, images, labels, tmp_path, chunk=10)
    (tmp_path / "chunk_00001.safetensors").write_bytes(b"cut short")
    (tmp_path / "chunk_extra.safetensors").write_bytes(b"not ours")
    extract(teacher, images, labels, tmp_path, chunk=10)
    assert sorted(p.name for p in tmp_path.glob("chunk_*")) == ["chunk_00000.safetensors", "chunk_00001.safetensors"]
    with torch.no_grad():
        torch.testing.assert_close(load_states(tmp_path)[0], token_states(teacher, images).half().float())
