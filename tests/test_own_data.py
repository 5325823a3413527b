"""Training on other datasets and on your own images: `mnist train --dataset NAME` and
`--data DIR` (a folder of class folders), the run's class names and preprocessing, and
predictions that name classes. Everything on small generated files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from dataset_factory import write_dataset
from PIL import Image, ImageDraw
from test_dataset_layouts import letter_f, write_emnist_zip
from typer.testing import CliRunner

from mnistcli.cli import app
from mnistcli.datasets import get_dataset
from mnistcli.errors import DataError
from mnistcli.home import dataset_dir
from mnistcli.image_folders import class_files, is_image_folder, load_image_folder
from mnistcli.preprocess_fashion import preparation, preprocess_fashion
from mnistcli.runs import load_run

runner = CliRunner()
QUICK = ["--model", "logreg", "--epochs", "2", "--batch-size", "16", "--seed", "1", "--quiet"]


def draw_shape(kind: str, rng: np.random.Generator, size: int = 64) -> Image.Image:
    """Dark strokes on white paper, at a random place and size: a bar, a ring or a cross."""
    picture = Image.new("L", (size, size), 255)
    pen = ImageDraw.Draw(picture)
    scale = rng.uniform(0.5, 0.8) * size
    x0, y0 = rng.uniform(4, size - scale - 4, 2)
    x1, y1 = x0 + scale, y0 + scale
    width = int(rng.integers(4, 7))
    if kind == "bar":
        pen.line([(x0, (y0 + y1) / 2), (x1, (y0 + y1) / 2)], fill=0, width=width)
    elif kind == "ring":
        pen.ellipse([x0, y0, x1, y1], outline=0, width=width)
    else:
        pen.line([(x0, y0), (x1, y1)], fill=0, width=width)
        pen.line([(x0, y1), (x1, y0)], fill=0, width=width)
    return picture


def make_folder(root: Path, per_class: int = 20, seed: int = 0,
                kinds: tuple[str, ...] = ("bar", "ring", "cross")) -> Path:
    rng = np.random.default_rng(seed)
    for kind in kinds:
        (root / kind).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            suffix = ".png" if i % 2 else ".jpg"
            draw_shape(kind, rng).convert("RGB").save(root / kind / f"{i:03d}{suffix}")
    (root / "notes").mkdir()  # a folder without images is no class
    (root / "notes" / "readme.txt").write_text("not an image")
    return root


def test_image_folder_classes_and_a_seeded_split(tmp_path):
    root = make_folder(tmp_path / "shapes", per_class=20)
    assert is_image_folder(root) and not is_image_folder(tmp_path / "nowhere")
    names, files = class_files(root)
    assert names == ("bar", "cross", "ring") and len(files) == 60
    folder = load_image_folder(root, seed=3)
    assert folder.class_names == names
    sizes = {name: len(split) for name, split in folder.splits.items()}
    assert sizes == {"train": 48, "validation": 6, "test": 6}  # 2 + 2 per class held out
    for split in folder.splits.values():
        assert split.images.dtype == np.uint8 and split.images.shape[1:] == (28, 28)
        assert sorted(np.bincount(split.labels, minlength=3).tolist())[0] > 0
    again = load_image_folder(root, seed=3)
    other = load_image_folder(root, seed=4)
    assert again.paths == folder.paths and again.digest == folder.digest
    assert other.paths["test"] != folder.paths["test"]
    # the images are prepared as `mnist predict` prepares them: white ink on black
    assert folder.splits["train"].images[:, 0, :].max() == 0


def test_image_folder_problems_are_data_errors(tmp_path):
    one = tmp_path / "one"
    make_folder(one, per_class=3, kinds=("bar",))
    with pytest.raises(DataError, match="at least two classes"):
        load_image_folder(one)
    bad = make_folder(tmp_path / "bad", per_class=3, kinds=("bar", "ring"))
    Image.new("L", (32, 32), 255).save(bad / "ring" / "blank.png")
    with pytest.raises(DataError, match="blank.png.*no ink"):
        load_image_folder(bad)


def test_train_on_a_folder_of_images_records_its_classes_and_predicts_them(tmp_path):
    root = make_folder(tmp_path / "shapes", per_class=20)
    result = runner.invoke(app, ["train", "--data", str(root), *QUICK, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["dataset"] == "images"
    run = load_run(summary["run"])
    assert run.class_names == ("bar", "cross", "ring") and run.num_classes == 3
    assert run.preprocessing == "mnist" and not run.digits
    data = run.record["data"]
    assert data["images"] == {"train": 48, "validation": 6, "test": 6}
    assert data["base_dataset"] == "mnist" and data["split_seed"] == 1
    assert len(data["digests"]["images"]) == 64
    from mnistcli.inference import load_predictor
    from mnistcli.predicting import predict_sources

    predictor = load_predictor(run.model_file())
    assert predictor.predict_proba(np.zeros((1, 28, 28), np.uint8)).shape == (1, 3)
    [prediction] = predict_sources([str(root / "ring" / "001.png")], predictor,
                                   preprocessing=run.preprocessing)
    record = prediction.record(top=2, class_names=run.class_names)
    assert record["class"] in run.class_names
    assert record["top"][0]["class"] == run.class_names[record["digit"]]
    # `mnist predict` names the class, in every format
    image = str(root / "ring" / "001.png")
    piped = runner.invoke(app, ["predict", image, "--model", summary["run"], "--quiet"])
    assert piped.exit_code == 0, piped.output
    path, answer, confidence = piped.stdout.strip().split("\t")
    assert path == image and answer in run.class_names and 0 < float(confidence) <= 1
    as_json = runner.invoke(app, ["predict", image, "--model", summary["run"], "--json",
                                  "--top", "3", "--quiet"])
    answer = json.loads(as_json.stdout)
    assert answer["class"] == run.class_names[answer["digit"]]
    assert {entry["class"] for entry in answer["top"]} == set(run.class_names)
    as_csv = runner.invoke(app, ["predict", image, "--model", summary["run"], "--csv",
                                 "--top", "2", "--quiet"])
    assert as_csv.stdout.splitlines()[0] == "path,class,confidence,class_2,probability_2"
    # export and plot-weights use its classes; export tests it on the held-out images
    exported = runner.invoke(app, ["export", summary["run"], "--format", "csv", "--out",
                                   str(tmp_path / "csv"), "--json", "--quiet"])
    assert exported.exit_code == 0, exported.output
    manifest = json.loads((tmp_path / "csv" / "manifest.json").read_text())
    assert manifest["classes"] == list(run.class_names)
    tflite = runner.invoke(app, ["export", summary["run"], "--out",
                                 str(tmp_path / "m.tflite"), "--json", "--quiet"])
    assert tflite.exit_code == 0, tflite.output
    assert json.loads(tflite.stdout)["accuracy"] is not None
    weights = runner.invoke(app, ["plot-weights", summary["run"], "--out",
                                  str(tmp_path / "w.png"), "--quiet"])
    assert weights.exit_code == 0, weights.output
    from mnistcli.keras_files import load_keras_model
    from mnistcli.weight_maps import weight_maps

    report = weight_maps(load_keras_model(run.keras_path), class_names=run.class_names)
    assert report.sections[0].labels == list(run.class_names)
    assert "each class" in report.sections[0].title
    # evaluate tests it on the held-out images and names the classes
    evaluated = runner.invoke(app, ["evaluate", summary["run"], "--json", "--quiet"])
    assert evaluated.exit_code == 0, evaluated.output
    evaluation = json.loads(evaluated.stdout)
    assert evaluation["images"] == 6 and evaluation["dataset"] == "images"
    assert evaluation["class_names"] == list(run.class_names)
    assert len(evaluation["confusion"]) == 3
    report = runner.invoke(app, ["evaluate", summary["run"], "--plot",
                                 str(tmp_path / "confusion.png")])
    assert report.exit_code == 0, report.output
    assert "Per class" in report.stderr and "ring" in report.stderr
    assert (tmp_path / "confusion.png").is_file()
    # resuming finds the same folder and split
    from mnistcli.recipes import TrainConfig

    config = TrainConfig.from_record(run.record)
    assert config.data_dir == root.resolve() and config.dataset == "mnist"


def test_train_on_a_registry_dataset_records_its_name_classes_and_preparation():
    write_dataset(dataset_dir("fashion-mnist"), n_train=80, n_test=20)
    result = runner.invoke(app, ["train", "--dataset", "fashion-mnist", "--validation", "10",
                                 *QUICK, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["dataset"] == "fashion-mnist"
    run = load_run(summary["run"])
    assert run.class_names == get_dataset("fashion-mnist").class_names
    assert run.preprocessing == "fashion"
    assert run.record["data"]["dataset"] == "fashion-mnist"
    assert run.record["data"]["dir"] == str(dataset_dir("fashion-mnist").resolve())


def test_train_on_emnist_letters_has_26_outputs(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.arange(1, 27, dtype=np.uint8).repeat(3)
    images = rng.integers(0, 256, (len(labels), 28, 28), dtype=np.uint8)
    images[0] = letter_f()
    write_emnist_zip(tmp_path / "emnist", "letters", (images, labels), (images[:26], labels[:26]))
    result = runner.invoke(app, ["train", "--dataset", "emnist-letters", "--data",
                                 str(tmp_path / "emnist"), "--validation", "6", *QUICK,
                                 "--json"])
    assert result.exit_code == 0, result.output
    run = load_run(json.loads(result.stdout)["run"])
    assert run.num_classes == 26 and run.class_names[0] == "A"
    from mnistcli.inference import load_predictor

    assert load_predictor(run.model_file()).predict_proba(images[:2]).shape == (2, 26)
    evaluated = runner.invoke(app, ["evaluate", str(run.path), "--json", "--quiet"])
    assert evaluated.exit_code == 0, evaluated.output
    evaluation = json.loads(evaluated.stdout)
    assert evaluation["images"] == 26 and len(evaluation["confusion"]) == 26
    assert evaluation["class_names"][25] == "Z" and evaluation["dataset"] == "emnist-letters"
    wide = runner.invoke(app, ["evaluate", str(run.path)])
    assert "26 classes, too wide for a terminal" in wide.stderr
    # another dataset of other classes cannot be evaluated on
    write_dataset(dataset_dir("kmnist"), n_train=30, n_test=10)
    other = runner.invoke(app, ["evaluate", str(run.path), "--dataset", "kmnist"])
    assert other.exit_code == 0  # kmnist's labels 0-9 fit in 26 classes: it runs


def test_unknown_dataset_is_one_error_listing_the_choices():
    result = runner.invoke(app, ["train", "--dataset", "cifar10", *QUICK])
    assert result.exit_code == 1
    assert "unknown dataset 'cifar10'; choose one of:" in result.stderr
    assert "emnist-letters" in result.stderr


# ---------------------------------------------------------------- Fashion-MNIST's preparation


def product_photo() -> Image.Image:
    """A dark, wide article (a bag) on white, off-centre in a large photo."""
    picture = Image.new("RGB", (300, 200), (255, 255, 255))
    pen = ImageDraw.Draw(picture)
    pen.rectangle([40, 60, 200, 140], fill=(30, 30, 40))  # 160 wide, 80 high
    pen.rectangle([90, 40, 150, 60], outline=(30, 30, 40), width=6)  # the handle
    return picture


def test_fashion_preparation_follows_the_published_conversion():
    pixels = preprocess_fashion(product_photo())
    assert pixels.shape == (28, 28) and pixels.dtype == np.uint8
    # negated: the white background is black, the dark article bright
    assert pixels[0, 0] == 0 and pixels[14, 14] > 200
    # trimmed, longest edge (the width) to 28 pixels, no 20-pixel box: it spans the field
    columns = np.flatnonzero(pixels.max(axis=0) > 0)
    assert columns[0] == 0 and columns[-1] == 27
    # the shorter edge extended, the article centred vertically
    rows = np.flatnonzero(pixels.max(axis=1) > 0)
    assert abs((rows[0] + rows[-1]) / 2 - 13.5) <= 1.0
    assert 16 <= len(rows) <= 19  # 100 high by 160 wide, scaled to 28 wide: 17.5


def test_fashion_preparation_keeps_a_fashion_mnist_image():
    image = np.zeros((28, 28), dtype=np.uint8)
    image[3:25, 8:20] = 180
    np.testing.assert_array_equal(preprocess_fashion(image), image)


def test_mnist_and_fashion_preparations_differ_and_unknown_is_an_error():
    photo = product_photo()
    mnist_like = preparation("mnist")(photo, "bag")
    fashion = preparation("fashion")(photo, "bag")
    # MNIST's fits the longer side in 20 pixels; Fashion-MNIST's in all 28
    assert np.flatnonzero(mnist_like.max(axis=0) > 0).size <= 22
    assert np.flatnonzero(fashion.max(axis=0) > 0).size == 28
    from mnistcli.errors import MnistError

    with pytest.raises(MnistError, match="unknown preprocessing 'cifar'"):
        preparation("cifar")
    with pytest.raises(Exception, match="nothing found"):
        preprocess_fashion(Image.new("L", (50, 50), 255))
