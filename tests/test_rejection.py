"""Rejection: below --min-confidence a prediction record says it is not sure enough."""

from __future__ import annotations

import numpy as np

from mnistcli.predicting import Prediction


def prediction(*probabilities: float) -> Prediction:
    return Prediction("x.png", probabilities=np.array(probabilities, dtype=np.float32))


def test_below_the_threshold_the_answer_is_rejected():
    unsure = prediction(0.05, 0.6, 0.35)
    record = unsure.record(top=2, min_confidence=0.7)
    assert record["rejected"] is True and record["digit"] is None
    assert record["confidence"] == 0.6  # what it would have said, and how sure
    assert [entry["digit"] for entry in record["top"]] == [1, 2]
    assert unsure.rejected(0.7) and not unsure.rejected(0.6) and not unsure.rejected(None)


def test_at_or_above_the_threshold_it_answers():
    record = prediction(0.05, 0.7, 0.25).record(min_confidence=0.7)
    assert record["rejected"] is False and record["digit"] == 1


def test_without_a_threshold_records_are_unchanged():
    record = prediction(0.05, 0.6, 0.35).record()
    assert "rejected" not in record and record["digit"] == 1


def test_a_rejected_record_of_named_classes_names_no_class():
    record = prediction(0.5, 0.5).record(class_names=["cat", "dog"], min_confidence=0.9)
    assert record["digit"] is None and "class" not in record
    assert record["top"][0]["class"] == "cat"


def test_failed_inputs_are_errors_not_rejections():
    from mnistcli.errors import ImageError

    failed = Prediction("bad.png", error=ImageError("bad.png: not an image"))
    assert failed.record(min_confidence=0.9) == {"path": "bad.png",
                                                 "error": "bad.png: not an image"}


def test_a_number_is_rejected_when_any_digit_is():
    from mnistcli.numbers import DigitReading, NumberReading

    def digit(value: int, confidence: float) -> DigitReading:
        probabilities = np.full(10, (1 - confidence) / 9, dtype=np.float32)
        probabilities[value] = confidence
        return DigitReading((0, 0, 10, 20), value, probabilities, confidence)

    reading = NumberReading("407", [digit(4, 0.99), digit(0, 0.6), digit(7, 0.95)])
    record = reading.record(min_confidence=0.9)
    assert record["rejected"] is True and record["number"] is None
    assert [d["rejected"] for d in record["digits"]] == [False, True, False]
    assert record["confidence"] == 0.6
    sure = reading.record(min_confidence=0.5)
    assert sure["rejected"] is False and sure["number"] == "407"
    assert "rejected" not in reading.record()
