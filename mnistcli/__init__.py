"""mnistcli: a command-line toolkit for the whole handwritten-digit (MNIST) workflow.

The package is a library core (this package's modules, no typer or rich inside) and a
thin command-line layer over it (``mnistcli.cli``). For notebooks and scripts, the Python
API (:mod:`mnistcli.api`) is here at the top level::

    import mnistcli
    model = mnistcli.load_model()
    model.predict("digit.png").digit
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

__all__ = ["Answer", "Model", "__version__", "evaluate", "load_model", "train"]
# The API is imported on first use, so `import mnistcli` (and with it every `mnist`
# command's start) stays as light as it was.
_API = frozenset(__all__) - {"__version__"}

if TYPE_CHECKING:
    from mnistcli.api import Answer, Model, evaluate, load_model, train


def __getattr__(name: str):
    if name in _API:
        from mnistcli import api

        return getattr(api, name)
    raise AttributeError(f"module 'mnistcli' has no attribute {name!r}")

