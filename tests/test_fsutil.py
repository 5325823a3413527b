"""mnistcli.fsutil: what it writes appears complete or not at all."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest
from PIL import Image

from mnistcli import fsutil
from mnistcli.fsutil import atomic_directory, atomic_output, publish, save_png


def names(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_atomic_directory_appears_only_when_complete(tmp_path):
    final = tmp_path / "run"
    with atomic_directory(final) as scratch:
        (scratch / "a.txt").write_text("a")
        assert not final.exists()
        assert scratch.name.startswith(".")
    assert names(final) == ["a.txt"]
    assert names(tmp_path) == ["run"]


def test_atomic_directory_failure_leaves_nothing(tmp_path):
    final = tmp_path / "run"
    with pytest.raises(RuntimeError), atomic_directory(final) as scratch:
        (scratch / "half.txt").write_text("half")
        raise RuntimeError("the writer failed half way")
    assert names(tmp_path) == []


def test_atomic_directory_has_the_mode_of_a_new_directory(tmp_path):
    with atomic_directory(tmp_path / "run"):
        pass
    made = tmp_path / "made"
    made.mkdir()
    assert stat.S_IMODE((tmp_path / "run").stat().st_mode) == stat.S_IMODE(made.stat().st_mode)


def test_atomic_directory_replaces_only_when_asked(tmp_path):
    final = tmp_path / "assets"
    final.mkdir()
    (final / "old.txt").write_text("old")
    with pytest.raises(FileExistsError), atomic_directory(final) as scratch:
        (scratch / "new.txt").write_text("new")
    assert names(final) == ["old.txt"] and names(tmp_path) == ["assets"]
    with atomic_directory(final, replace=True) as scratch:
        (scratch / "new.txt").write_text("new")
    assert names(final) == ["new.txt"] and names(tmp_path) == ["assets"]


def test_a_named_scratch_directory_left_by_a_killed_process_is_cleared(tmp_path):
    leftover = tmp_path / ".run.partial"
    leftover.mkdir()
    (leftover / "stale.txt").write_text("stale")
    with atomic_directory(tmp_path / "run", scratch_name=".run.partial") as scratch:
        assert scratch == leftover and names(scratch) == []
        (scratch / "fresh.txt").write_text("fresh")
    assert names(tmp_path / "run") == ["fresh.txt"]


def test_publish_puts_the_old_directory_back_if_the_new_cannot_move_in(tmp_path, monkeypatch):
    final, built = tmp_path / "out", tmp_path / "built"
    final.mkdir()
    (final / "old.txt").write_text("old")
    built.mkdir()
    real_rename = os.rename

    def rename(source, target):
        if os.fspath(source) == os.fspath(built):
            raise OSError(28, "No space left on device")
        real_rename(source, target)

    monkeypatch.setattr(fsutil.os, "rename", rename)
    with pytest.raises(OSError, match="No space"):
        publish(built, final, replace=True)
    assert (final / "old.txt").read_text() == "old"
    assert names(tmp_path) == ["built", "out"]


def test_atomic_output_takes_files_and_directories(tmp_path):
    with atomic_output(tmp_path / "model.bin") as built:
        built.write_bytes(b"model")
    with atomic_output(tmp_path / "csv") as built:
        built.mkdir()
        (built / "layer1.csv").write_text("1,2\n")
    assert names(tmp_path) == ["csv", "model.bin"]
    assert (tmp_path / "csv" / "layer1.csv").read_text() == "1,2\n"


def test_a_failed_atomic_output_keeps_the_previous_one(tmp_path):
    out = tmp_path / "csv"
    with atomic_output(out) as built:  # an earlier export of ours
        built.mkdir()
        (built / "layer1.csv").write_text("old")
    with pytest.raises(ValueError), atomic_output(out, force=True) as built:
        built.mkdir()
        (built / "layer1.csv").write_text("new")
        raise ValueError("the writer failed")
    assert names(tmp_path) == ["csv"] and (out / "layer1.csv").read_text() == "old"


def test_save_png_writes_pillow_images_and_matplotlib_figures(tmp_path):
    from matplotlib.figure import Figure

    picture = Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8))
    figure = Figure(figsize=(2, 1), dpi=50)
    figure.subplots().plot([0, 1], [1, 0])
    for name, source, size in (("p.png", picture, (8, 8)), ("f.png", figure, (100, 50))):
        assert save_png(source, tmp_path / name) == tmp_path / name
        with Image.open(tmp_path / name) as written:
            assert written.format == "PNG" and written.size == size
    assert names(tmp_path) == ["f.png", "p.png"]


def test_save_png_failure_leaves_nothing(tmp_path):
    class Broken:
        mode = "L"

        def save(self, *args, **kwargs):
            raise OSError(5, "Input/output error")

    with pytest.raises(OSError):
        save_png(Broken(), tmp_path / "broken.png")
    assert names(tmp_path) == []
