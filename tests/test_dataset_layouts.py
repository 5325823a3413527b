"""Every registry dataset's layout, tested with small generated files: the canonical four
IDX files (KMNIST, Fashion-MNIST) and EMNIST's zip of gzipped IDX files, whose images are
stored transposed and whose letters are labelled 1-26."""

from __future__ import annotations

import dataclasses
import gzip
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from dataset_factory import FILENAMES, write_dataset

from mnistcli.datasets import (
    DATASETS,
    get_dataset,
    is_downloaded,
    load_dataset,
    resolve_data_dir,
    sha256_file,
    train_size,
)
from mnistcli.download import COPIED, download_dataset
from mnistcli.emnist import member_name
from mnistcli.errors import DataError, DataNotFoundError
from mnistcli.home import dataset_dir
from mnistcli.idx import encode_idx

EXPECTED = {
    "mnist": 10, "fashion-mnist": 10, "kmnist": 10, "emnist-digits": 10,
    "emnist-letters": 26, "emnist-balanced": 47,
}


def letter_f() -> np.ndarray:
    """An upright "F": a stem on the left, a bar along the top, a shorter one in the
    middle. Mirrored or turned, it is no longer an F."""
    glyph = np.zeros((28, 28), dtype=np.uint8)
    glyph[4:24, 6:10] = 255  # the stem, on the left
    glyph[4:8, 6:22] = 255  # the top bar, to the right
    glyph[12:16, 6:18] = 255  # the middle bar, shorter
    return glyph


def is_upright_f(image: np.ndarray) -> bool:
    return bool(np.array_equal(image, letter_f()))


def write_emnist_zip(directory: Path, split: str, train: tuple[np.ndarray, np.ndarray],
                     test: tuple[np.ndarray, np.ndarray]) -> Path:
    """EMNIST's layout: gzip.zip holding gzip/emnist-<split>-...-ubyte.gz, images stored
    transposed (as NIST stores them)."""
    directory.mkdir(parents=True, exist_ok=True)
    archive = directory / "gzip.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for part, (images, labels) in (("train", train), ("test", test)):
            stored = np.ascontiguousarray(np.transpose(images, (0, 2, 1)))
            for kind, array in (("images", stored), ("labels", labels)):
                data = gzip.compress(encode_idx(array), mtime=0)
                bundle.writestr(f"gzip/{member_name(split, part, kind)}", data)
        bundle.writestr("gzip/emnist-letters-mapping.txt", "1 65 97\n")
    return archive


def test_registry_holds_every_dataset_with_its_class_count():
    assert {name: spec.num_classes for name, spec in DATASETS.items()} == EXPECTED
    for spec in DATASETS.values():
        assert len(set(spec.class_names)) == spec.num_classes
        for entry in spec.files:
            assert re.fullmatch(r"[0-9a-f]{64}", entry.sha256)
            assert entry.size and entry.size > 0
        assert spec.mirrors and spec.sizes
    assert get_dataset("emnist-letters").class_names[:3] == ("A", "B", "C")
    assert get_dataset("emnist-balanced").class_names[36:] == tuple("abdefghnqrt")
    assert get_dataset("fashion-mnist").preprocessing == "fashion"
    assert get_dataset("mnist").preprocessing == "mnist"


def test_emnist_datasets_share_one_archive_and_directory():
    specs = [get_dataset(f"emnist-{s}") for s in ("digits", "letters", "balanced")]
    assert {spec.files for spec in specs} == {specs[0].files}
    assert {resolve_data_dir(None, spec.name) for spec in specs} == {dataset_dir("emnist")}


def test_unknown_dataset_lists_the_choices():
    with pytest.raises(DataError, match="unknown dataset 'emnist'; choose one of: .*emnist-"):
        get_dataset("emnist")


def test_emnist_letters_come_out_upright_and_labelled_from_zero(tmp_path):
    rng = np.random.default_rng(0)
    train_images = rng.integers(0, 256, (12, 28, 28), dtype=np.uint8)
    train_images[0] = letter_f()
    train_labels = np.array([6] + [int(v) for v in rng.integers(1, 27, 11)], dtype=np.uint8)
    train_labels[1] = 26
    test_images = np.stack([letter_f()] * 3)
    test_labels = np.array([1, 6, 26], dtype=np.uint8)
    write_emnist_zip(tmp_path, "letters", (train_images, train_labels),
                     (test_images, test_labels))
    data = load_dataset(tmp_path, dataset="emnist-letters", validation=2)
    train = data["train"]
    assert is_upright_f(train.images[0])
    # not merely symmetric: the stored (transposed) glyph is not an F
    assert not is_upright_f(np.transpose(train.images[0]))
    assert int(train.labels[0]) == 5 and get_dataset("emnist-letters").class_names[5] == "F"
    assert int(train.labels[1]) == 25
    np.testing.assert_array_equal(data["test"].labels, [0, 5, 25])
    assert all(is_upright_f(image) for image in data["test"].images)
    assert train.images.flags.c_contiguous
    np.testing.assert_array_equal(data["validation"].labels, train_labels[-2:] - 1)
    assert train_size(tmp_path, "emnist-letters") == 12


def test_emnist_letters_label_zero_is_refused(tmp_path):
    images = np.zeros((2, 28, 28), dtype=np.uint8)
    write_emnist_zip(tmp_path, "letters", (images, np.array([0, 3], np.uint8)),
                     (images, np.array([1, 2], np.uint8)))
    with pytest.raises(DataError, match="label 0 is below 1"):
        load_dataset(tmp_path, dataset="emnist-letters", validation=1)


def test_emnist_balanced_reads_47_classes_and_extracted_files(tmp_path):
    images = np.stack([letter_f()] * 4)
    labels = np.array([0, 10, 36, 46], dtype=np.uint8)
    archive = write_emnist_zip(tmp_path / "zip", "balanced", (images, labels), (images, labels))
    data = load_dataset(archive.parent, dataset="emnist-balanced", validation=1)
    np.testing.assert_array_equal(data["test"].labels, labels)
    assert is_upright_f(data["test"].images[1])
    # the extracted files (as `unzip gzip.zip` leaves them) work too
    extracted = tmp_path / "extracted"
    with zipfile.ZipFile(archive) as bundle:
        bundle.extractall(extracted)
    again = load_dataset(extracted, dataset="emnist-balanced", validation=1)
    np.testing.assert_array_equal(again["test"].images, data["test"].images)
    with pytest.raises(DataError, match="label 47 is not a class 0-46"):
        bad = tmp_path / "bad"
        write_emnist_zip(bad, "balanced", (images, labels + 1), (images, labels))
        load_dataset(bad, dataset="emnist-balanced", validation=1)


def test_emnist_missing_archive_says_how_to_get_it(tmp_path):
    with pytest.raises(DataNotFoundError,
                       match=r"mnist download --dataset emnist-digits"):
        load_dataset(tmp_path, dataset="emnist-digits")


def test_emnist_archive_without_the_split_is_an_error(tmp_path):
    images = np.zeros((2, 28, 28), dtype=np.uint8)
    write_emnist_zip(tmp_path, "digits", (images, np.zeros(2, np.uint8)),
                     (images, np.zeros(2, np.uint8)))
    with pytest.raises(DataError, match="holds no gzip/emnist-letters-train-images"):
        load_dataset(tmp_path, dataset="emnist-letters", validation=1)
    (tmp_path / "gzip.zip").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable zip archive"):
        load_dataset(tmp_path, dataset="emnist-digits", validation=1)


def test_emnist_download_copies_one_verified_archive_into_the_shared_directory(tmp_path):
    images = np.stack([letter_f()] * 3)
    labels = np.array([1, 2, 3], dtype=np.uint8)
    source = tmp_path / "mirror"
    archive = write_emnist_zip(source, "letters", (images, labels), (images, labels))
    real = get_dataset("emnist-letters")
    # the generated archive stands in for NIST's: its own digest and size
    entry = dataclasses.replace(real.files[0], sha256=sha256_file(archive),
                                size=archive.stat().st_size)
    spec = dataclasses.replace(real, files=(entry,))
    result = download_dataset(spec, from_dir=source)
    assert result.directory == dataset_dir("emnist")
    assert [f.status for f in result.files] == [COPIED]
    assert (dataset_dir("emnist") / "gzip.zip").read_bytes() == archive.read_bytes()
    data = load_dataset(dataset="emnist-letters", validation=1)
    assert is_upright_f(data["test"].images[0])
    np.testing.assert_array_equal(data["test"].labels, [0, 1, 2])


@pytest.mark.parametrize("name", ["kmnist", "fashion-mnist"])
def test_canonical_layout_datasets_load_from_their_directory(name):
    directory = dataset_dir(name)
    arrays = write_dataset(directory, n_train=30, n_test=10)
    assert is_downloaded(name)
    assert not is_downloaded("mnist")
    data = load_dataset(dataset=name, validation=5)
    np.testing.assert_array_equal(data["test"].images, arrays["test-images"])
    assert train_size(dataset=name) == 30
    (directory / FILENAMES["test-labels"]).unlink()
    with pytest.raises(DataNotFoundError, match=f"mnist download --dataset {name}"):
        load_dataset(dataset=name, validation=5)


def test_gzip_member_helper_names_match_nist():
    assert member_name("letters", "train", "images") == \
        "emnist-letters-train-images-idx3-ubyte.gz"
    assert member_name("balanced", "test", "labels") == \
        "emnist-balanced-test-labels-idx1-ubyte.gz"
