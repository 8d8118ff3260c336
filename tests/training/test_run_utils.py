"""The trainers' shared plumbing: Ctrl+C / kill asks a run to stop (it checkpoints and
leaves) instead of killing it mid-write, and every invocation is recorded for the card."""

from __future__ import annotations

import json
import os
import signal

from editor.training.run_utils import catch_stop_signals, record_command


def test_sigterm_is_caught_and_the_old_handler_comes_back():
    before = signal.getsignal(signal.SIGTERM)
    requested, restore = catch_stop_signals()
    try:
        os.kill(os.getpid(), signal.SIGTERM)   # would end the test process if not caught
        assert requested == [signal.SIGTERM]
    finally:
        restore()
    assert signal.getsignal(signal.SIGTERM) == before


def test_commands_are_appended(tmp_path):
    record_command(tmp_path, ["--iters", "10"], 0)
    record_command(tmp_path, ["--resume"], 5, init="x.safetensors")
    lines = [json.loads(l) for l in (tmp_path / "commands.jsonl").read_text().splitlines()]
    assert [l["start_iteration"] for l in lines] == [0, 5]
    assert lines[1]["argv"] == ["--resume"] and lines[1]["init"] == "x.safetensors"
