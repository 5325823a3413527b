"""mnistcli: a command-line toolkit for the whole handwritten-digit (MNIST) workflow.

The package is a library core (this package's modules, no typer or rich inside) and a
thin command-line layer over it (``mnistcli.cli``).
"""

__version__ = "0.1.0"
