"""The core prediction pipeline: sources in, prediction records out, in order."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURE_IMAGES
from PIL import Image
from test_preprocess import draw_digit, encoded

from mnistcli.errors import ImageError, MnistError, ModelError
from mnistcli.predicting import (
    NamedImage,
    Prediction,
    expand_sources,
    load_labelled_images,
    predict_labelled_images,
    predict_sources,
    prepare_sources,
)
from mnistcli.preprocess import preprocess


class FakePredictor:
    """Answers from the pixels alone, so each answer can be checked against its image:
    the class is the image's ink sum modulo 10. Records the thread and size of each call."""

    path = Path("fake.tflite")
    backend = "fake"

    def __init__(self, poison: set[int] | None = None):
        self.calls: list[tuple[int, int]] = []  # (thread id, batch size)
        self.poison = poison or set()

    @staticmethod
    def expected_class(pixels: np.ndarray) -> int:
        return int(pixels.astype(np.int64).sum()) % 10

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        self.calls.append((threading.get_ident(), len(images)))
        out = np.full((len(images), 10), 0.01, dtype=np.float32)
        for row, pixels in enumerate(images):
            out[row, self.expected_class(pixels)] = 0.91
            if self.expected_class(pixels) in self.poison:
                out[row, 0] = np.nan
        return out


@pytest.fixture(scope="module")
def three() -> Image.Image:
    return draw_digit(3)


@pytest.fixture(scope="module")
def reference(three) -> np.ndarray:
    return preprocess(three)


def test_predictions_come_in_input_order_with_failures_in_place(tmp_path):
    names = []
    for index in range(11):
        name = f"{index:02d}.png"
        if index in (0, 4, 5, 10):
            (tmp_path / name).write_bytes(b"broken")
        else:
            draw_digit(index % 10, stroke=1 + index % 4).save(tmp_path / name)
        names.append(name)
    predictor = FakePredictor()
    results = list(predict_sources([tmp_path, tmp_path / "missing.png"], predictor,
                                   batch_size=2))
    assert [Path(r.source).name for r in results] == [*names, "missing.png"]
    assert [r.ok for r in results] == [i not in (0, 4, 5, 10) for i in range(11)] + [False]
    for result in results:
        if result.ok:
            assert result.label == FakePredictor.expected_class(result.pixels)
        else:
            assert result.probabilities is None
            assert str(result.error).startswith(result.source + ": ")
    assert sum(size for _thread, size in predictor.calls) == 7
    assert max(size for _thread, size in predictor.calls) <= 2


def test_one_batch_runs_in_the_calling_thread_and_several_in_a_worker(three, tmp_path):
    for index in range(5):
        three.save(tmp_path / f"{index}.png")
    single = FakePredictor()
    assert all(r.ok for r in predict_sources([tmp_path], single, batch_size=8))
    assert single.calls == [(threading.get_ident(), 5)]
    several = FakePredictor()
    assert len(list(predict_sources([tmp_path], several, batch_size=2))) == 5
    assert [size for _thread, size in several.calls] == [2, 2, 1]
    assert all(thread != threading.get_ident() for thread, _size in several.calls)


def test_in_memory_images_bytes_arrays_and_pil(three, reference):
    sources = [NamedImage("png", encoded(three, "PNG")), NamedImage("array", np.asarray(three)),
               NamedImage("pil", three), NamedImage("junk", b"\x00\x01")]
    results = list(predict_sources(sources, FakePredictor()))
    assert [r.source for r in results] == ["png", "array", "pil", "junk"]
    for result in results[:3]:
        assert np.array_equal(result.pixels, reference)
    assert isinstance(results[3].error, ImageError)
    assert str(results[3].error).startswith("junk: ")


def test_non_finite_probabilities_are_that_image_error():
    images = [NamedImage(f"i{d}", np.asarray(draw_digit(d))) for d in range(4)]
    expected = [FakePredictor.expected_class(preprocess(draw_digit(d))) for d in range(4)]
    poisoned = FakePredictor(poison={expected[1]})
    results = list(predict_sources(images, poisoned))
    for result, cls in zip(results, expected, strict=True):
        if cls == expected[1]:
            assert isinstance(result.error, ModelError) and "non-finite" in str(result.error)
        else:
            assert result.ok and result.label == cls


def test_record_has_the_answer_runners_up_and_all_probabilities():
    probabilities = np.array([0.05, 0.6, 0.05, 0.2, 0.1, 0, 0, 0, 0, 0], dtype=np.float32)
    prediction = Prediction("x.png", pixels=np.zeros((28, 28), np.uint8),
                            probabilities=probabilities)
    record = prediction.record(top=3)
    assert record["path"] == "x.png" and record["digit"] == 1
    assert record["confidence"] == pytest.approx(0.6)
    assert [entry["digit"] for entry in record["top"]] == [1, 3, 4]
    assert len(record["probabilities"]) == 10
    named = prediction.record(top=2, class_names=[f"c{i}" for i in range(10)])
    assert named["class"] == "c1" and named["top"][1]["class"] == "c3"
    failed = Prediction("y.png", error=ImageError("y.png: no ink found")).record()
    assert failed == {"path": "y.png", "error": "y.png: no ink found"}


def test_stdin_is_read_once(three):
    results = list(prepare_sources(["-", "-"], stdin=io.BytesIO(encoded(three, "PNG"))))
    assert results[0].ok
    assert not results[1].ok and "only once" in str(results[1].error)


def test_predict_labelled_images_matches_the_pipeline_and_labels(tmp_path):
    for digit in (2, 5):
        (tmp_path / str(digit)).mkdir()
        draw_digit(digit).save(tmp_path / str(digit) / "a.png")
    result = predict_labelled_images(tmp_path, FakePredictor())
    assert result.labels.tolist() == [2, 5] and len(result.paths) == 2
    assert result.failures == []
    assert np.array_equal(result.images, load_labelled_images(tmp_path)[0])
    assert result.probabilities.argmax(axis=1).tolist() == [
        FakePredictor.expected_class(image) for image in result.images]


def test_labelled_images_that_cannot_be_used_are_left_out_and_listed(tmp_path):
    (tmp_path / "3").mkdir()
    (tmp_path / "8").mkdir()
    draw_digit(3).save(tmp_path / "3" / "a.png")
    (tmp_path / "3" / "b.png").write_bytes(b"junk")
    draw_digit(8).save(tmp_path / "8" / "c.png")
    result = predict_labelled_images(tmp_path, FakePredictor())
    assert result.labels.tolist() == [3, 8]
    assert [Path(p).name for p in result.paths] == ["a.png", "c.png"]
    assert len(result.failures) == 1 and "b.png" in str(result.failures[0])
    for name in ("a.png", "c.png"):
        (tmp_path / ("3" if name == "a.png" else "8") / name).write_bytes(b"junk")
    with pytest.raises(ImageError, match=r"\(and 2 more\)"):
        predict_labelled_images(tmp_path, FakePredictor())


# ---------------------------------------------------------------- directories and batches


def test_directory_gives_its_images_sorted(three, tmp_path):
    for name in ("b.png", "a.JPG", "c.webp", ".hidden.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.png").write_bytes(b"x")
    found = [name for name, error in expand_sources([tmp_path])]
    assert found == [str(tmp_path / n) for n in ("a.JPG", "b.png", "c.webp")]


def test_empty_directory_is_an_error(tmp_path):
    (tmp_path / "readme.txt").write_text("no pictures")
    [(name, error)] = list(expand_sources([tmp_path]))
    assert name == str(tmp_path) and "no image files" in str(error)


def test_batch_keeps_going_past_bad_files(three, tmp_path):
    three.save(tmp_path / "1_good.png")
    (tmp_path / "2_bad.png").write_bytes(b"not an image at all")
    Image.new("L", (50, 50), 255).save(tmp_path / "3_blank.png")
    three.save(tmp_path / "4_good.jpg")
    results = list(prepare_sources([tmp_path, tmp_path / "missing.png"]))
    assert [Path(r.source).name for r in results] == [
        "1_good.png", "2_bad.png", "3_blank.png", "4_good.jpg", "missing.png"]
    assert [r.ok for r in results] == [True, False, False, True, False]
    for result in results:
        assert (result.pixels is None) == (result.error is not None)
        if result.error is not None:
            assert str(result.error).startswith(result.source + ": ")



def test_load_labelled_images_from_digit_directories(tmp_path):
    for digit in (2, 5):
        (tmp_path / str(digit)).mkdir()
        for variant in range(2):
            draw_digit(digit, stroke=2 + variant).save(tmp_path / str(digit) / f"{variant}.png")
    draw_digit(7).save(tmp_path / "7_loose.png")  # <digit>_name at the top level
    (tmp_path / "notes").mkdir()  # ignored: not a digit
    pixels, labels, paths = load_labelled_images(tmp_path)
    assert pixels.shape == (5, 28, 28) and pixels.dtype == np.uint8
    assert labels.tolist() == [2, 2, 5, 5, 7]
    assert [Path(p).name for p in paths] == ["0.png", "1.png", "0.png", "1.png", "7_loose.png"]
    assert np.array_equal(pixels[4], preprocess(draw_digit(7)))


def test_load_labelled_images_errors(tmp_path):
    with pytest.raises(ImageError, match="no labelled images"):
        load_labelled_images(tmp_path)
    (tmp_path / "3").mkdir()
    draw_digit(3).save(tmp_path / "3" / "good.png")
    Image.new("L", (40, 40), 0).save(tmp_path / "3" / "empty.png")
    (tmp_path / "3" / "junk.png").write_bytes(b"junk")
    with pytest.raises(ImageError, match=r"3/empty.png: no ink found.*\(and 1 more\)"):
        load_labelled_images(tmp_path)


def test_fixture_labelled_directory_loads():
    labelled = FIXTURE_IMAGES / "labelled"
    if not labelled.is_dir():
        pytest.skip("fixtures/images/labelled not generated")
    pixels, labels, paths = load_labelled_images(labelled)
    assert len(pixels) == len(labels) == len(paths) >= 10
    assert set(labels.tolist()) == set(range(10))
    assert all(Path(p).parent.name == str(label) for p, label in zip(paths, labels, strict=True))


def test_worker_processes_prepare_the_same_images_in_the_same_order(tmp_path):
    for index in range(40):
        picture = draw_digit(index % 10, side=40 + index, stroke=1 + index % 3)
        picture.save(tmp_path / f"{index:03d}.png")
    (tmp_path / "020_junk.png").write_bytes(b"junk")
    serial = list(prepare_sources([tmp_path]))
    parallel = list(prepare_sources([tmp_path], workers=2))
    assert [item.source for item in parallel] == [item.source for item in serial]
    for a, b in zip(serial, parallel, strict=True):
        assert (a.pixels is None) == (b.pixels is None)
        assert a.pixels is None or np.array_equal(a.pixels, b.pixels)
        assert str(a.error) == str(b.error)


def test_workers_default_to_one_per_core_only_for_large_batches(monkeypatch):
    from mnistcli import predicting

    monkeypatch.delenv(predicting.WORKERS_ENV, raising=False)
    assert predicting.preparation_workers(10) == 1
    many = predicting.preparation_workers(predicting.PARALLEL_MIN_FILES)
    assert many == max(1, min(os.cpu_count() or 1, predicting.MAX_WORKERS))
    monkeypatch.setenv(predicting.WORKERS_ENV, "3")
    assert predicting.preparation_workers(1) == 3
    monkeypatch.setenv(predicting.WORKERS_ENV, "lots")
    with pytest.raises(MnistError, match="MNIST_WORKERS"):
        predicting.preparation_workers(1)


@pytest.mark.slow
def test_predict_with_worker_processes_from_the_command_line(tmp_path):
    for index in range(12):
        draw_digit(index % 10).save(tmp_path / f"{index:02d}.png")
    env = {**os.environ, "MNIST_WORKERS": "2"}
    runs = {}
    for workers in ("1", "2"):
        env["MNIST_WORKERS"] = workers
        result = subprocess.run([sys.executable, "-m", "mnistcli", "predict", "-q",
                                 str(tmp_path)], capture_output=True, text=True, env=env,
                                timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        runs[workers] = result.stdout
    assert runs["1"] == runs["2"] and len(runs["2"].splitlines()) == 12
