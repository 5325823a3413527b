#!/usr/bin/env bash
# A user's first minutes, in a fresh virtualenv: `pip install .` (not editable: what a
# wheel holds, with the dependencies pyproject.toml declares and nothing from the dev
# venv), then `mnist --help`, predict a fixture image with the shipped model, and a
# one-epoch training on the tiny fixture dataset (which also writes the LiteRT model).
# Everything runs outside the repository, so nothing is imported from the source tree.
# Usage: .ci/smoke_install.sh [PYTHON]   (default: python3). About 7 minutes here, most of
# it downloading TensorFlow (pip's cache makes a second run faster where it persists).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd)"
PYTHON="${1:-python3}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
start=$SECONDS
step() { printf 'smoke: %s (%ds)\n' "$1" "$((SECONDS - start))"; }

step "fresh venv with $("$PYTHON" --version 2>&1)"
"$PYTHON" -m venv "$WORK/venv"
BIN="$WORK/venv/bin"
"$BIN/python" -m pip install --quiet --upgrade pip 2>&1 | grep -v "is ignored" || true
step "pip install . (non-editable)"
# build in a copy: setuptools would otherwise leave build/ and *.egg-info in the work tree
mkdir "$WORK/src"
tar -C "$REPO" --exclude=./.venv --exclude=./.git --exclude=./build --exclude='*.egg-info' \
    -cf - . | tar -C "$WORK/src" -xf -
"$BIN/python" -m pip install --quiet "$WORK/src" 2>&1 | grep -v "is ignored" || true
"$BIN/python" -m pip check

export MNIST_HOME="$WORK/home" TF_CPP_MIN_LOG_LEVEL=3
cd "$WORK"
step "mnist --help"
"$BIN/mnist" --help >/dev/null
"$BIN/mnist" --version

step "mnist predict a fixture image (the shipped model)"
out="$("$BIN/mnist" predict "$REPO/fixtures/images/7_white_on_black.png")"
echo "$out"
case "$out" in
    *"	7	"*) ;;
    *) echo "smoke: expected digit 7 for 7_white_on_black.png" >&2; exit 1 ;;
esac

step "mnist train --model logreg --epochs 1 on fixtures/tiny"
run="$("$BIN/mnist" train --model logreg --epochs 1 --data "$REPO/fixtures/tiny" \
    --validation 100 --out "$WORK/run" 2>"$WORK/train.log")" || {
    cat "$WORK/train.log" >&2
    exit 1
}
for file in model.keras model.tflite history.csv run.json; do
    [ -s "$run/$file" ] || { echo "smoke: $run/$file missing" >&2; exit 1; }
done
"$BIN/mnist" predict --model "$run" "$REPO/fixtures/images/7_white_on_black.png" >/dev/null
step "done"
