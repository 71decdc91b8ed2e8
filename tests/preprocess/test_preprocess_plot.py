from __future__ import annotations

import pytest
from PIL import Image

from Preprocess.index import index
from Preprocess.plot import plot
from preprocess_helpers import files  # noqa: F401  (pytest fixtures)


@pytest.fixture
def dataset(tmp_path, files):
    root = tmp_path / "data"
    for number in range(1, 6):
        files.pair(root, f"cat_{number:04d}", (300, 200))
    for number in range(1, 4):
        files.pair(root, f"dog_{number:04d}", (40, 60), image_ext=".png")
    return root


def test_plot_from_index_writes_two_pngs(dataset):
    index(dataset / "images", dataset / "masks", dataset / "index.csv", progress=False, verbose=False)
    paths = plot(dataset / "index.csv", dataset / "plots", samples=4, seed=1, verbose=False)
    assert [p.name for p in paths] == ["category_distribution.png", "samples.png"]
    for path in paths:
        with Image.open(path) as image:
            assert image.format == "PNG" and min(image.size) > 100
    assert not [p for p in (dataset / "plots").iterdir() if p.name.startswith(".")]


def test_plot_from_a_dataset_root_without_index(dataset):
    (dataset / "images" / "cat_0002.jpg").write_bytes(b"broken")  # reported, another sample drawn
    paths = plot(dataset, dataset / "plots", samples=3, verbose=False)
    assert all(p.is_file() for p in paths)


def test_plot_does_not_overwrite_unless_asked(dataset):
    out = dataset / "plots"
    out.mkdir()
    (out / "samples.png").write_bytes(b"mine")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        plot(dataset, out, verbose=False)
    assert (out / "samples.png").read_bytes() == b"mine"
    plot(dataset, out, samples=2, overwrite=True, verbose=False)
    assert Image.open(out / "samples.png").format == "PNG"


def test_plot_rejects_a_folder_that_is_not_a_dataset(tmp_path):
    with pytest.raises(FileNotFoundError, match="source"):
        plot(tmp_path, tmp_path / "plots", verbose=False)
