"""Render the README screenshot offscreen: a photo, a masked Sharpen layer, split compare.

    QT_QPA_PLATFORM=offscreen python -m editor.qt.screenshot resources/screenshots/main_window.png

The photo is scikit-image's ``astronaut`` (NASA, public domain), which ships with a
dependency, so the picture can be re-made on any machine without downloads.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PIL import Image  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402
from skimage import data  # noqa: E402

from editor.qt.main_window import MainWindow  # noqa: E402


def _wait(app: QApplication, condition, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("the screenshot scene did not settle")
        app.processEvents()
        time.sleep(0.01)


def render(out: Path) -> Path:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "astronaut.png"
        Image.fromarray(data.astronaut()).save(photo)
        window = MainWindow()
        window.resize(1440, 900)
        window.show()
        window.open_paths([photo])
        doc = window.document().doc
        window.show_tool("sharpen")
        window.tool_panel.set_values({"amount": 1.5, "radius": 1.5})
        # Sharpen the face only: an elliptical selection becomes the new layer's mask.
        window.view_canvas().set_selection("ellipse", (150, 20, 290, 210))
        window.tool_controller.apply()
        _wait(app, lambda: len(doc.layers) == 2)
        window.view_canvas().clear_selection()
        window.acts.compare_split.trigger()
        window.view_canvas().set_split_position(0.5)
        window.view_canvas().zoom_fit()
        _wait(app, lambda: True)
        for _ in range(20):
            app.processEvents()
        out.parent.mkdir(parents=True, exist_ok=True)
        window.grab().save(str(out))
        window.document().history.mark_clean()  # nothing to save: close without asking
        window.close()
    return out


if __name__ == "__main__":
    print(render(Path(sys.argv[1] if len(sys.argv) > 1 else "main_window.png")))
