"""mnistcli.charts leaves matplotlib's global state alone (a notebook user's backend and
open figures)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_charts_leave_the_pyplot_backend_and_figures_alone(tmp_path):
    # in a child process: selecting a backend is process-wide state
    code = textwrap.dedent(f"""
        import matplotlib
        matplotlib.use("svg")
        import matplotlib.pyplot as plt
        import numpy as np
        from mnistcli.charts import History, plot_confusion, plot_history

        mine = plt.figure()
        epochs = np.arange(1.0, 4.0)
        history = History(epoch=epochs, loss=1 / epochs, accuracy=1 - 0.1 / epochs,
                          val_loss=1.2 / epochs, val_accuracy=1 - 0.2 / epochs)
        plot_history(history, {str(tmp_path / "history.png")!r})
        plot_confusion(np.eye(10, dtype=int) * 5, {str(tmp_path / "confusion.png")!r})
        print(matplotlib.get_backend(), plt.get_fignums() == [mine.number],
              plt.gcf() is mine)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.split() == ["svg", "True", "True"], result.stderr
    assert (tmp_path / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
