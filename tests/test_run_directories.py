"""mnistcli.runs builds run directories and reads/writes history.csv; training rebuilds a
run's config from its record."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from conftest import TINY_DATA

from mnistcli.errors import MnistError, RunError
from mnistcli.recipes import TrainConfig, make_config
from mnistcli.runs import HISTORY_COLUMNS, building_run, read_history, write_history


def row(epoch: int, val: bool = True) -> dict[str, float]:
    return {"epoch": epoch, "loss": 1.0 / epoch, "accuracy": 0.5 + epoch / 100,
            "val_loss": 1.5 / epoch if val else math.nan,
            "val_accuracy": 0.4 + epoch / 100 if val else math.nan, "seconds": 2.5}


def test_history_round_trip(tmp_path):
    rows = [row(1), row(2), row(3, val=False)]
    write_history(tmp_path / "history.csv", rows)
    header = (tmp_path / "history.csv").read_text().splitlines()[0]
    assert header == ",".join(HISTORY_COLUMNS)
    history = read_history(tmp_path / "history.csv")
    assert len(history) == 3 and history.has_validation
    assert list(history.epoch) == [1, 2, 3]
    back = history.rows()
    assert [r["epoch"] for r in back] == [1, 2, 3] and isinstance(back[0]["epoch"], int)
    for written, read in zip(rows, back, strict=True):
        for key in HISTORY_COLUMNS[1:]:
            if math.isnan(written[key]):
                assert math.isnan(read[key])
            else:
                assert read[key] == pytest.approx(written[key], rel=1e-5)


@pytest.mark.parametrize("text, message", [
    ("a,b\n1,2\n", "missing column"),
    ("epoch,loss,accuracy\n", "no epochs"),
    ("epoch,loss,accuracy\nx,1,0.5\n", "epoch number"),
])
def test_a_bad_history_is_one_clear_error(tmp_path, text, message):
    (tmp_path / "history.csv").write_text(text, encoding="utf-8")
    with pytest.raises(RunError, match=message):
        read_history(tmp_path / "history.csv")


def test_a_missing_history_is_a_run_error(tmp_path):
    with pytest.raises(RunError, match="no training history"):
        read_history(tmp_path / "history.csv")


def test_a_run_appears_only_when_complete(tmp_path):
    final = tmp_path / "runs" / "r1"
    with building_run(final) as partial:
        assert partial.name == ".r1.partial" and not final.exists()
        (partial / "run.json").write_text("{}")
    assert sorted(p.name for p in final.parent.iterdir()) == ["r1"]
    with pytest.raises(KeyboardInterrupt), building_run(tmp_path / "runs" / "r2") as partial:
        (partial / "run.json").write_text("{}")
        raise KeyboardInterrupt
    assert sorted(p.name for p in final.parent.iterdir()) == ["r1"]


def test_building_a_run_over_something_there(tmp_path):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "precious.txt").write_text("keep me")
    with pytest.raises(RunError, match="already exists"), building_run(taken):
        pass
    assert [p.name for p in taken.iterdir()] == ["precious.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()  # made by the user for the run: used
    with building_run(empty) as partial:
        (partial / "run.json").write_text("{}")
    assert [p.name for p in empty.iterdir()] == ["run.json"]
    # resuming replaces the run, and only once the new one is complete
    with building_run(taken, replacing=True) as partial:
        (partial / "run.json").write_text("{}")
        assert (taken / "precious.txt").exists()
    assert [p.name for p in taken.iterdir()] == ["run.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "taken"]


def test_an_unwritable_destination_fails_before_anything(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(MnistError, match="a-file"), building_run(blocker / "run"):
        pytest.fail("the block must not run")
    assert blocker.read_text() == "not a directory"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_config_round_trips_through_the_run_record():
    config = make_config("mlp", epochs=4, batch_size=16, seed=3, validation=100,
                         data_dir=TINY_DATA, max_steps=2)
    record = {"model": config.model, "seed": config.seed,
              "hyperparameters": json.loads(json.dumps(config.hyperparameters())),
              "data": {"dir": str(TINY_DATA)}}
    assert TrainConfig.from_record(record) == config
    longer = TrainConfig.from_record(record, epochs=9, data_dir="elsewhere")
    assert (longer.epochs, longer.data_dir) == (9, Path("elsewhere"))
    # an older record: a key this version dropped, and none of the later defaults
    record["hyperparameters"] = {"epochs": 2, "batch_size": 8, "learning_rate": 0.1,
                                 "optimizer": "sgd", "extra": {}}
    old = TrainConfig.from_record(record)
    assert (old.epochs, old.schedule, old.augment, old.label_smoothing) == (
        2, "constant", None, 0.0)
