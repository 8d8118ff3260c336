"""Qt test harness: offscreen platform, an isolated settings file per test, and a guard
that fails any test leaving a QThread running (a leaked engine thread would keep working
on a dead window and crash the interpreter at exit)."""

from __future__ import annotations

import os

# Before any Qt import: the suite never needs a display.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtCore import QCoreApplication, QSettings, QThread  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path):
    """Every QSettings() in the test reads and writes an ini file under tmp_path, never the
    developer's real Restora settings."""
    QCoreApplication.setOrganizationName("RestoraTests")
    QCoreApplication.setApplicationName("RestoraTests")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    folder = str(tmp_path / "settings")
    for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
        QSettings.setPath(QSettings.Format.IniFormat, scope, folder)
    yield folder


@pytest.fixture(autouse=True)
def no_leaked_qthreads():
    """Record every QThread started during the test; fail the test if one still runs
    after it (after giving it a moment and then stopping it, so later tests are safe)."""
    started: list[QThread] = []
    original_start = QThread.start

    def recording_start(self, *args, **kwargs):
        started.append(self)
        return original_start(self, *args, **kwargs)

    QThread.start = recording_start
    try:
        yield started
    finally:
        QThread.start = original_start
    leaked = []
    for thread in started:
        try:
            running = thread.isRunning()
        except RuntimeError:  # the C++ object is gone, so is its thread
            continue
        if running and not thread.wait(2000):
            leaked.append(thread)
            stop = getattr(thread, "stop", None)
            if callable(stop):
                stop()
            else:
                thread.quit()
            thread.wait(5000)
    if leaked:
        pytest.fail(f"test left {len(leaked)} QThread(s) running: "
                    f"{', '.join(t.objectName() or type(t).__name__ for t in leaked)}")


@pytest.fixture
def never_block_on_dialogs(monkeypatch):
    """A modal dialog in an offscreen test would hang it: every question a test does not
    answer itself gets a safe default (closing with edits discards them), and any other
    message box or dialog fails the test. Modules opt in with
    ``pytestmark = pytest.mark.usefixtures("never_block_on_dialogs")``."""
    from PySide6.QtWidgets import QDialog, QMessageBox

    from editor.qt import dialogs

    monkeypatch.setattr(dialogs, "ask_save_changes", lambda parent, name: "discard")
    monkeypatch.setattr(QMessageBox, "exec", lambda self: pytest.fail("unexpected message box"))
    monkeypatch.setattr(QDialog, "exec", lambda self: pytest.fail("unexpected dialog"))


@pytest.fixture
def errors(monkeypatch):
    """The (title, text) of every error dialog the test causes, instead of showing them."""
    from PySide6.QtWidgets import QMessageBox

    calls = []
    monkeypatch.setattr(QMessageBox, "critical",
                        lambda parent, title, text, *a, **k: calls.append((title, text)))
    return calls
