"""``restora [FILE...]``: start the desktop editor, optionally opening files."""

from __future__ import annotations

import argparse
import sys

from editor import __version__

APP_NAME = "Restora"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="restora", description="Restora photo editor")
    parser.add_argument("files", nargs="*", help="photos or .ora work files to open")
    parser.add_argument("--version", action="version", version=f"restora {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # --help/--version exit here, before Qt needs a display. Qt's own options
    # (-platform xcb, -style fusion ...) are tolerated now and removed by Qt below.
    _parser().parse_known_args(argv)

    # PySide6 is imported here, not at module level, so `restora --version` stays fast.
    from PySide6.QtWidgets import QApplication

    from editor.qt.engine_thread import EngineThread
    from editor.qt.icons import icon
    from editor.qt.main_window import MainWindow

    app = QApplication.instance()
    if app is None:
        app = QApplication([sys.argv[0] if sys.argv else "restora", *argv])
        # What is left after Qt took its options: "-platform offscreen" must not make
        # "offscreen" a file name.
        argv = app.arguments()[1:]
    files, _unknown = _parser().parse_known_args(argv)
    # Organisation and application name decide where QSettings keeps its file.
    app.setOrganizationName(APP_NAME)
    app.setApplicationName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setWindowIcon(icon("mdi6.image-filter-hdr"))

    # One engine thread for every window: model work runs one job at a time.
    engine = EngineThread()
    window = MainWindow(engine=engine)
    window.show()
    if files.files:
        window.open_paths(files.files)
    try:
        return app.exec()
    finally:
        engine.stop()
