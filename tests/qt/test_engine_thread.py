"""The engine thread: work happens off the GUI thread, results and progress come back as
queued signals, a new preview supersedes the old one, and stop() really ends the thread."""

from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtCore import QObject, QThread, Slot
from PySide6.QtWidgets import QApplication

from editor.engine.jobs import Job
from editor.qt.engine_thread import EngineThread


@pytest.fixture
def engine():
    e = EngineThread()
    yield e
    e.stop()
    assert not e.isRunning()


class Recorder(QObject):
    """A receiver living in the GUI thread, so deliveries to it are queued like the app's."""

    def __init__(self) -> None:
        super().__init__()
        self.results = []
        self.progress = []
        self.started = []
        self.threads = set()

    @Slot(object)
    def on_finished(self, result) -> None:
        self.threads.add(threading.get_ident())
        self.results.append(result)

    @Slot(int, float, str)
    def on_progress(self, job_id: int, fraction: float, message: str) -> None:
        self.threads.add(threading.get_ident())
        self.progress.append((job_id, fraction, message))

    @Slot(int)
    def on_started(self, job_id: int) -> None:
        self.started.append(job_id)


@pytest.fixture
def recorder(engine):
    r = Recorder()
    engine.finished.connect(r.on_finished)
    engine.progress.connect(r.on_progress)
    engine.started.connect(r.on_started)
    return r


def wait_cancelled(progress, limit: float = 10.0) -> None:
    """A job body that runs until it is cancelled (or gives up after ``limit`` s)."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        progress.check_cancelled()
        time.sleep(0.005)


def test_jobs_run_off_the_gui_thread_and_results_come_back_on_it(qtbot, engine, recorder):
    gui = threading.get_ident()
    seen = {}

    def fn(progress):
        seen["ident"] = threading.get_ident()
        seen["qthread"] = QThread.currentThread()
        return 6 * 7

    job = engine.submit(Job(fn, label="answer"))
    qtbot.waitUntil(lambda: len(recorder.results) == 1, timeout=5000)
    result = recorder.results[0]
    assert result.job is job and result.ok and result.value == 42
    assert seen["ident"] != gui
    assert seen["qthread"] is not QApplication.instance().thread()
    # The slot ran in the GUI thread: the worker never calls into widgets itself.
    assert recorder.threads == {gui}
    assert recorder.started == [job.id]


def test_progress_signal_arrives_with_job_id_and_message(qtbot, engine, recorder):
    def fn(progress):
        progress.set_progress(0.5, "Halfway")
        progress.set_progress(1.0, "Done")
        return None

    job = engine.submit(Job(fn))
    qtbot.waitUntil(lambda: len(recorder.results) == 1, timeout=5000)
    assert (job.id, 0.5, "Halfway") in recorder.progress
    assert recorder.progress[-1] == (job.id, 1.0, "Done")


def test_progress_is_throttled_but_the_final_report_gets_through(qtbot, engine, recorder):
    def fn(progress):
        for i in range(1, 2001):
            progress.set_progress(i / 2000, "Tiles")

    engine.submit(Job(fn))
    qtbot.waitUntil(lambda: len(recorder.results) == 1, timeout=5000)
    # 2000 reports in a few ms must not become 2000 repaints of the status bar.
    assert 1 <= len(recorder.progress) < 100
    assert recorder.progress[-1][1] == 1.0


def test_newer_preview_supersedes_a_running_one(qtbot, engine, recorder):
    old = engine.submit(Job(wait_cancelled, kind="preview", key="tool"))
    qtbot.waitUntil(lambda: old.id in recorder.started, timeout=5000)
    new = engine.submit(Job(lambda p: "fresh", kind="preview", key="tool"))
    qtbot.waitUntil(lambda: len(recorder.results) == 2, timeout=5000)
    by_id = {r.job.id: r for r in recorder.results}
    assert by_id[old.id].cancelled and by_id[old.id].value is None
    assert by_id[new.id].ok and by_id[new.id].value == "fresh"


def test_queued_previews_dropped_by_a_newer_one_report_cancelled(qtbot, engine, recorder):
    blocker = engine.submit(Job(wait_cancelled, kind="apply"))
    qtbot.waitUntil(lambda: blocker.id in recorder.started, timeout=5000)
    first = engine.submit(Job(lambda p: 1, kind="preview", key="tool"))
    second = engine.submit(Job(lambda p: 2, kind="preview", key="tool"))
    blocker.cancel()
    qtbot.waitUntil(lambda: len(recorder.results) == 3, timeout=5000)
    by_id = {r.job.id: r for r in recorder.results}
    assert by_id[first.id].cancelled          # never ran: nobody waits on it forever
    assert by_id[second.id].value == 2
    assert first.id not in recorder.started


def test_failing_job_reports_its_error_and_the_thread_survives(qtbot, engine, recorder):
    def boom(progress):
        raise ValueError("the model file is damaged")

    engine.submit(Job(boom))
    engine.submit(Job(lambda p: "still alive"))
    qtbot.waitUntil(lambda: len(recorder.results) == 2, timeout=5000)
    assert isinstance(recorder.results[0].error, ValueError)
    assert recorder.results[1].value == "still alive"


def test_stop_cancels_running_work_and_joins_the_thread(qtbot, engine, recorder):
    job = engine.submit(Job(wait_cancelled, kind="apply"))
    qtbot.waitUntil(lambda: job.id in recorder.started, timeout=5000)
    t0 = time.monotonic()
    assert engine.stop()
    assert time.monotonic() - t0 < 5.0  # returned because the job saw the cancel
    assert not engine.isRunning() and engine.isFinished()
    assert job.cancelled
    with pytest.raises(RuntimeError):
        engine.submit(Job(lambda p: None))
    assert engine.stop()  # a second stop (closeEvent + teardown) is harmless


def test_stop_without_any_job_is_immediate():
    e = EngineThread()
    assert e.stop()
    assert not e.isRunning()
