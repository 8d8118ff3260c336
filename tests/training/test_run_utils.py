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


def test_a_fine_tune_recipe_starts_with_the_commands_that_made_its_init_weights(tmp_path):
    """A fine-tune exported under the same model id replaces the card of its starting
    weights; the recipe must still say how those weights were made, or it cannot be
    reproduced."""
    import torch
    from safetensors.torch import save_file

    from editor.training.checkpoints import RunCheckpoints
    from editor.training.recipe import reproduction_commands
    from editor.training.run_utils import RunLog

    weights = tmp_path / "net.safetensors"
    save_file({"w": torch.zeros(2)}, str(weights))
    earlier = ["python -m editor.training.train_x --run-dir a --iters 100",
               "python -m editor.training.export_x --run-dir a"]
    (tmp_path / "net.json").write_text(json.dumps({"training": {"commands": earlier}}))
    run = tmp_path / "run"
    run.mkdir()
    net = torch.nn.Linear(1, 1)
    checkpoints = RunCheckpoints(run, net, torch.optim.SGD(net.parameters(), lr=0.1), {},
                                 RunLog(run / "log.txt", quiet=True))
    argv = ["--run-dir", str(run), "--init", str(weights), "--iters", "50"]
    checkpoints.start(argv, resume=False, init=str(weights), load_init=lambda _p: None)
    # The card is replaced by the fine-tune's export; the recorded chain survives that.
    (tmp_path / "net.json").write_text(json.dumps({"training": {"commands": ["other"]}}))

    commands = reproduction_commands(run, "editor.training.train_x", "editor.training.export_x",
                                     [], 50)
    assert commands[:2] == earlier
    assert commands[2].startswith("python -m editor.training.train_x --run-dir")
    assert "--init" in commands[2] and "sha256" in commands[2]
    assert commands[3].startswith("python -m editor.training.export_x")
    assert len(commands) == 4
