"""The Python API, and the README's "Use from Python" examples run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURE_IMAGES
from PIL import Image

import mnistcli
from mnistcli.errors import ImageError, RunError

REPO = Path(__file__).resolve().parent.parent


def test_import_is_light_and_the_api_is_loaded_on_first_use():
    code = ("import sys, mnistcli; assert 'numpy' not in sys.modules, 'numpy'; "
            "mnistcli.load_model; assert 'mnistcli.api' in sys.modules; "
            "assert 'tensorflow' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=60)


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_thing"):
        mnistcli.no_such_thing  # noqa: B018


def test_shipped_model_predicts_paths_pil_images_arrays_and_bytes(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_HOME", str(tmp_path))
    model = mnistcli.load_model()
    assert model.run.source == "shipped" and model.backend == "litert"
    path = FIXTURE_IMAGES / "3_black_on_white.png"
    by_path = model.predict(path)
    assert by_path.digit == 3 and by_path.label == "3"
    with Image.open(path) as picture:
        assert model.predict(picture).digit == 3
        assert model.predict(np.asarray(picture.convert("L"))).digit == 3
    assert model.predict(path.read_bytes()).digit == 3
    assert np.isclose(by_path.probabilities.sum(), 1, atol=1e-4)
    assert by_path.top(2)[0] == (3, pytest.approx(by_path.confidence))


def test_predict_many_keeps_errors_in_place(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_HOME", str(tmp_path))
    model = mnistcli.load_model()
    results = model.predict_many([FIXTURE_IMAGES / "7_white_on_black.png", tmp_path / "no.png",
                                  Image.new("L", (30, 30), 255)])
    assert results[0].digit == 7
    assert isinstance(results[1], ImageError) and "no such file" in str(results[1])
    assert isinstance(results[2], ImageError) and "no ink" in str(results[2])
    with pytest.raises(ImageError):
        model.predict(tmp_path / "no.png")


def test_load_model_names_what_is_missing(tmp_path):
    with pytest.raises(RunError, match="no such run"):
        mnistcli.load_model(tmp_path / "nothing")


def readme_python_blocks() -> list[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Use from Python", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_the_readme_has_python_examples():
    assert len(readme_python_blocks()) >= 2


@pytest.mark.slow
def test_readme_python_examples_run(tmp_path):
    script = "\n".join(readme_python_blocks())
    env_setup = f"import os; os.environ['MNIST_HOME'] = {str(tmp_path)!r}\n"
    result = subprocess.run([sys.executable, "-c", env_setup + script], cwd=REPO,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("4 ")  # the photo crop fixture is a 4
    assert any("no such file" in line for line in lines)
    assert re.search(r"logreg \d+\.\d+%$", lines[-1])


def test_a_runs_class_names_and_preparation_are_used(tmp_path, monkeypatch):
    from mnistcli.api import Model
    from mnistcli.preprocess import load_image
    from mnistcli.preprocess_fashion import preparation
    from mnistcli.runs import RunInfo

    monkeypatch.setenv("MNIST_HOME", str(tmp_path))
    shipped = mnistcli.load_model()
    names = [f"class {index}" for index in range(10)]
    record = {"model": "cnn", "class_names": names, "preprocessing": "fashion"}
    model = Model(RunInfo(path=tmp_path, source="run", record=record), shipped._predictor)
    assert model.class_names == names
    path = FIXTURE_IMAGES / "3_black_on_white.png"
    answer = model.predict(path)
    assert answer.label == names[answer.digit]
    expected = preparation("fashion")(load_image(path), str(path))
    assert np.array_equal(answer.pixels, expected)
    assert not np.array_equal(answer.pixels, shipped.predict(path).pixels)
