from pathlib import Path

from vision.paths import list_images, natural_key


def test_natural_key_orders_numbers_by_value_and_ignores_case():
    names = ["frame10.png", "Frame2.png", "frame1.png", "frame2b.png"]
    assert sorted(names, key=lambda n: natural_key(Path(n))) == ["frame1.png", "Frame2.png", "frame2b.png", "frame10.png"]


def test_list_images_keeps_images_in_natural_order(tmp_path):
    for name in ["b10.PNG", "b9.jpg", "notes.txt", "a.webp", "sub/c1.tif", "sub/d.GIF"]:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "folder.png").mkdir()  # a folder with an image's name is not an image
    assert [p.name for p in list_images(tmp_path)] == ["a.webp", "b9.jpg", "b10.PNG"]
    assert [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path, recursive=True)] == [
        "a.webp", "b9.jpg", "b10.PNG", "sub/c1.tif", "sub/d.GIF"]
    assert list_images(tmp_path / "missing") == []
