"""``mnist export RUN --format web``: the drawing page of `mnist serve`, without a server.

The directory written holds::

    index.html     the page (mnistcli/web/index.html, with the two scripts below added)
    app.js         the page's code, the same file `mnist serve` sends
    mnist.js       the toolkit's preprocessing (see its header for what is ported) and
                   a dense forward pass, in JavaScript
    model.js       the weights, as ``window.MNIST_MODEL`` (a script, not a fetched file,
                   so the page works opened from disk: browsers refuse fetch() on file://)
    style.css, icon.svg
    weights/       the csv format's export: one theta CSV per layer + manifest.json

model.js is made from the CSV files of weights/ (read back), so the page computes with
exactly the theta layout that the csv format documents: row 0 the biases, row i + 1 the
weights from input i, ``z[j] = theta[0][j] + sum_i a[i] * theta[i + 1][j]``.

Only dense networks fit (the zoo's logreg, mlp, mlp100, mlp2 and dnn): a CNN is refused
before anything is written.
"""

from __future__ import annotations

import base64
import json
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from mnistcli.errors import ModelError

FORMAT_NAME = "mnistcli-web"
DENSE_MODELS = ("logreg", "mlp", "mlp100", "mlp2", "dnn")
WEIGHTS_DIR = "weights"
MODEL_SCRIPT = "model.js"
# copied as they are from mnistcli/web; index.html is the template
ASSETS = ("app.js", "mnist.js", "style.css", "icon.svg")
TEMPLATE = "index.html"
PLACEHOLDER = "<!-- offline-model -->"
SCRIPTS = f'<script src="{MODEL_SCRIPT}"></script>\n  <script src="mnist.js"></script>'


def _csv_format():
    from mnistcli.export import get_format

    return get_format("csv")


def check_web(model) -> None:
    """ModelError unless the page's JavaScript can run ``model`` (a dense network)."""
    try:
        _csv_format().check(model)
    except ModelError as exc:
        raise ModelError(
            f"the web format runs dense networks in the browser ({', '.join(DENSE_MODELS)}), "
            f"and {model.name!r} is not one ({exc}). To use it from a browser, run "
            "`mnist serve RUN`: its page asks the server instead"
        ) from None


def page_html() -> str:
    """index.html of the offline app: the served page plus model.js and mnist.js."""
    template = (resources.files("mnistcli") / "web" / TEMPLATE).read_text(encoding="utf-8")
    if PLACEHOLDER not in template:
        raise ModelError(f"mnistcli/web/{TEMPLATE} lacks its {PLACEHOLDER} marker")
    page = template.replace(PLACEHOLDER, SCRIPTS)
    return page.replace("<title>mnist · draw a digit</title>",
                        "<title>mnist · draw a digit (offline)</title>")


def model_script(weights: Path) -> tuple[str, dict[str, Any]]:
    """model.js for the csv export in ``weights``: its manifest, each layer's theta as
    base64 little-endian float32."""
    manifest = json.loads((weights / "manifest.json").read_text(encoding="utf-8"))
    layers = []
    for layer in manifest["layers"]:
        theta = np.loadtxt(weights / layer["file"], delimiter=",", dtype=np.float64, ndmin=2)
        if theta.shape != (layer["rows"], layer["columns"]):
            raise ModelError(f"{layer['file']}: {theta.shape}, the manifest says "
                             f"{layer['rows']}x{layer['columns']}")
        layers.append({
            "name": layer["name"], "rows": layer["rows"], "columns": layer["columns"],
            "activation": layer["activation"],
            "theta": base64.b64encode(theta.astype("<f4").tobytes()).decode("ascii"),
        })
    shape = " -> ".join([str(layers[0]["rows"] - 1)] + [str(layer["columns"])
                                                       for layer in layers])
    spec = {
        "format": FORMAT_NAME,
        "version": 1,
        "model": manifest["model"],
        "description": f"{manifest['model']}: a dense network ({shape}) running in this "
                       "page",
        "input": manifest["input"],
        "layers": layers,
    }
    script = ("/* Made by `mnist export --format web`: the weights of weights/*.csv (theta "
              "layout), float32, base64. */\nwindow.MNIST_MODEL = "
              + json.dumps(spec, separators=(",", ":")) + ";\n")
    return script, spec


def write_web(model, target: Path, options) -> dict[str, Any]:
    """The export format's writer (see mnistcli.export.FORMATS): ``target`` is a new
    directory in the export's scratch space."""
    target.mkdir()
    _csv_format().write(model, target / WEIGHTS_DIR, options)
    script, spec = model_script(target / WEIGHTS_DIR)
    (target / MODEL_SCRIPT).write_text(script, encoding="utf-8")
    web = resources.files("mnistcli") / "web"
    for name in ASSETS:
        (target / name).write_bytes((web / name).read_bytes())
    (target / TEMPLATE).write_text(page_html(), encoding="utf-8")
    files = [TEMPLATE, *ASSETS, MODEL_SCRIPT, f"{WEIGHTS_DIR}/"]
    return {"files": files, "layers": len(spec["layers"]), "open": TEMPLATE}
