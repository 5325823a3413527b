"""The dataset registry and loader: splits, views, and inconsistent data."""

from __future__ import annotations

import re

import numpy as np
import pytest
from dataset_factory import FILENAMES, spec_for, write_dataset

from mnistcli import datasets
from mnistcli.datasets import (
    DATASETS,
    get_dataset,
    load_dataset,
    load_split,
    verify_files,
)
from mnistcli.errors import DataError, DataNotFoundError
from mnistcli.idx import write_idx


@pytest.fixture
def data_dir(tmp_path):
    directory = tmp_path / "data"
    arrays = write_dataset(directory, n_train=60, n_test=20)
    return directory, arrays


def test_loads_uint8_splits_with_validation_from_the_end(data_dir):
    directory, arrays = data_dir
    splits = load_dataset(directory, validation=15)
    assert set(splits) == {"train", "validation", "test"}
    assert [len(splits[s]) for s in ("train", "validation", "test")] == [45, 15, 20]
    for split in splits.values():
        assert split.images.dtype == np.uint8 and split.labels.dtype == np.uint8
        assert split.images.shape[1:] == (28, 28)
    np.testing.assert_array_equal(splits["train"].images, arrays["train-images"][:45])
    np.testing.assert_array_equal(splits["validation"].images, arrays["train-images"][45:])
    np.testing.assert_array_equal(splits["validation"].labels, arrays["train-labels"][45:])
    np.testing.assert_array_equal(splits["test"].labels, arrays["test-labels"])


def test_train_and_validation_are_views_of_one_buffer(data_dir):
    directory, _ = data_dir
    splits = load_dataset(directory, validation=10, splits=("train", "validation"))
    train, validation = splits["train"], splits["validation"]
    for array in (train.images, train.labels, validation.images, validation.labels):
        assert not array.flags.owndata
    # both splits look into the same decoded training array: no copy was made
    assert train.images.base is validation.images.base
    assert np.shares_memory(train.images.base, validation.images)
    assert np.shares_memory(train.labels.base, validation.labels)
    assert train.images.base.size == 60 * 28 * 28


def test_load_split_returns_one_split(data_dir):
    directory, arrays = data_dir
    validation = load_split("validation", directory, validation=5)
    np.testing.assert_array_equal(validation.labels, arrays["train-labels"][-5:])
    assert validation.name == "validation"


@pytest.mark.parametrize("bad", [60, 61, -1])
def test_bad_validation_size(data_dir, bad):
    directory, _ = data_dir
    with pytest.raises(DataError, match=re.escape(f"--validation {bad}")) as excinfo:
        load_dataset(directory, validation=bad)
    assert "60 images" in str(excinfo.value)


def test_validation_zero_keeps_all_training_images(data_dir):
    directory, _ = data_dir
    splits = load_dataset(directory, validation=0)
    assert len(splits["train"]) == 60 and len(splits["validation"]) == 0


def test_mismatched_image_and_label_counts(tmp_path):
    write_dataset(tmp_path, n_train=60, n_train_labels=59)
    with pytest.raises(DataError) as excinfo:
        load_dataset(tmp_path, validation=5)
    message = str(excinfo.value)
    assert FILENAMES["train-images"] in message and FILENAMES["train-labels"] in message
    assert "60 images" in message and "59 labels" in message


def test_label_out_of_range(tmp_path):
    write_dataset(tmp_path)
    write_idx(tmp_path / FILENAMES["test-labels"], np.full(20, 12, np.uint8))
    with pytest.raises(DataError, match="label 12 is not a digit") as excinfo:
        load_dataset(tmp_path, splits=("test",))
    assert FILENAMES["test-labels"] in str(excinfo.value)


def test_wrong_image_shape(tmp_path):
    write_dataset(tmp_path)
    write_idx(tmp_path / FILENAMES["test-images"], np.zeros((20, 27, 27), np.uint8))
    with pytest.raises(DataError, match=r"expected uint8 images of shape \(N, 28, 28\)"):
        load_dataset(tmp_path, splits=("test",))


def test_wrong_label_dtype(tmp_path):
    write_dataset(tmp_path)
    write_idx(tmp_path / FILENAMES["test-labels"], np.zeros(20, np.int32))
    with pytest.raises(DataError, match="1-D uint8 label file"):
        load_dataset(tmp_path, splits=("test",))


def test_corrupt_file_is_a_data_error_naming_it(tmp_path):
    write_dataset(tmp_path)
    path = tmp_path / FILENAMES["train-images"]
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DataError, match=re.escape(str(path))):
        load_dataset(tmp_path)


def test_missing_data_tells_the_user_to_download():
    # MNIST_HOME is a fresh temporary directory (conftest): nothing downloaded
    with pytest.raises(DataNotFoundError, match="mnist download"):
        load_dataset()


def test_unknown_split(data_dir):
    directory, _ = data_dir
    with pytest.raises(DataError, match="unknown split 'dev'"):
        load_dataset(directory, splits=("dev",))


def test_unknown_dataset_lists_the_choices():
    with pytest.raises(DataError) as excinfo:
        get_dataset("cifar")
    message = str(excinfo.value)
    assert "'cifar'" in message
    for name in DATASETS:
        assert name in message


def test_registry_entries_are_well_formed():
    assert "mnist" in DATASETS
    for name, spec in DATASETS.items():
        assert spec.name == name
        roles = [f.role for f in spec.files]
        if roles == ["archive"]:  # EMNIST: one zip holding every split's IDX files
            assert spec.files[0].filename.endswith(".zip")
        else:  # the four canonical IDX files
            assert roles == list(FILENAMES)
            assert [f.filename for f in spec.files] == list(FILENAMES.values())
        for entry in spec.files:
            assert re.fullmatch(r"[0-9a-f]{64}", entry.sha256), (name, entry.filename)
        assert len({f.sha256 for f in spec.files}) == len(spec.files)
        assert spec.mirrors and all(m.startswith(("http://", "https://")) for m in spec.mirrors)
        assert len(spec.class_names) == spec.num_classes >= 2
        assert len(set(spec.class_names)) == spec.num_classes


def test_verify_files_reports_each_status(tmp_path, monkeypatch):
    write_dataset(tmp_path)
    monkeypatch.setitem(DATASETS, "testdigits", spec_for(tmp_path))
    (tmp_path / FILENAMES["test-labels"]).unlink()
    modified = tmp_path / FILENAMES["train-labels"]
    modified.write_bytes(modified.read_bytes() + b"\0")
    statuses = {s.role: s.status for s in verify_files(tmp_path, "testdigits")}
    assert statuses == {"train-images": "verified", "train-labels": "modified",
                        "test-images": "verified", "test-labels": "missing"}


@pytest.mark.realdata
def test_real_mnist_through_download(real_mnist_mirror):
    from mnistcli.download import download_dataset

    result = download_dataset("mnist", from_dir=real_mnist_mirror)
    splits = load_dataset()
    assert [len(splits[s]) for s in ("train", "validation", "test")] == [55000, 5000, 10000]
    assert result.directory == datasets.resolve_data_dir()
    counts = np.bincount(splits["test"].labels, minlength=10)
    assert counts.sum() == 10000 and counts.min() > 800  # every digit well represented
    assert {s.status for s in verify_files()} == {"verified"}
