"""The results writer every benchmark shares: a re-run replaces its own section of
RESULTS.md and nothing else, and the raw numbers land in JSON with the machine."""

from __future__ import annotations

import json

import pytest

from editor.training import results
from editor.training.results import (markdown_table, median_seconds, replace_section,
                                     write_results)

HAND_WRITTEN = """# Benchmark results

Notes a person wrote by hand, which no benchmark may lose.

<!-- bench:other -->
## Other benchmark

| a | b |
|---|---|
| 1 | 2 |
<!-- /bench:other -->

Closing remarks.
"""


def test_rewriting_a_section_keeps_every_other_byte(tmp_path):
    (tmp_path / "RESULTS.md").write_text(HAND_WRITTEN, encoding="utf-8")

    write_results("editor", "Editor", "first run", {"x": 1}, models_dir=tmp_path)
    write_results("editor", "Editor", "second run", {"x": 2}, models_dir=tmp_path)

    text = (tmp_path / "RESULTS.md").read_text(encoding="utf-8")
    assert text.startswith(HAND_WRITTEN.rstrip("\n"))  # the other section and prose intact
    assert text.count("<!-- bench:editor -->") == 1 and text.count("<!-- /bench:editor -->") == 1
    assert "second run" in text and "first run" not in text


def test_a_section_in_the_middle_is_replaced_in_place(tmp_path):
    (tmp_path / "RESULTS.md").write_text(HAND_WRITTEN, encoding="utf-8")
    write_results("other", "Other benchmark", "| a | b |\n|---|---|\n| 3 | 4 |", {},
                  models_dir=tmp_path)
    text = (tmp_path / "RESULTS.md").read_text(encoding="utf-8")
    before, _, after = HAND_WRITTEN.partition("<!-- bench:other -->")
    assert text.startswith(before)
    assert text.endswith("<!-- /bench:other -->\n\nClosing remarks.\n")
    assert "| 3 | 4 |" in text and "| 1 | 2 |" not in text


def test_first_run_creates_the_file_and_the_json(tmp_path):
    import torch  # loaded, so its version and thread count must be recorded

    json_path, md_path = write_results("editor", "Editor foundation", "| x |\n|---|\n| 1 |",
                                       {"median_s": 0.25, "rows": [1, 2]}, models_dir=tmp_path)

    assert md_path == tmp_path / "RESULTS.md"
    text = md_path.read_text(encoding="utf-8")
    assert text.startswith("# Benchmark results")
    assert "## Editor foundation" in text and "results/editor.json" in text

    assert json_path == tmp_path / "results" / "editor.json"
    record = json.loads(json_path.read_text(encoding="utf-8"))
    assert record["name"] == "editor"
    assert record["data"] == {"median_s": 0.25, "rows": [1, 2]}
    machine = record["machine"]
    for key in ("date", "cpu_count", "python"):
        assert machine[key]
    assert machine["torch"] == torch.__version__
    assert machine["torch_threads"] == torch.get_num_threads()
    # Atomic writes leave no temp files behind.
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["RESULTS.md", "editor.json",
                                                           "results"]


def test_backslashes_and_pipes_in_a_section_survive(tmp_path):
    # re.sub would read "\|" and "\1" in a replacement string as escapes.
    table = markdown_table(["expr", "value"], [["a|b", r"\1 and \g<0>"]])
    write_results("editor", "Editor", table, {}, models_dir=tmp_path)
    write_results("editor", "Editor", table, {}, models_dir=tmp_path)
    text = (tmp_path / "RESULTS.md").read_text(encoding="utf-8")
    assert r"| a\|b | \1 and \g<0> |" in text


@pytest.mark.parametrize("name", ["", "../escape", "Editor", "a b", "x/y"])
def test_unsafe_names_are_refused(tmp_path, name):
    with pytest.raises(ValueError, match="benchmark name"):
        write_results(name, "T", "md", {}, models_dir=tmp_path)
    assert not (tmp_path / "RESULTS.md").exists()


def test_nan_in_the_data_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError):
        write_results("editor", "Editor", "md", {"x": float("nan")}, models_dir=tmp_path)
    assert not (tmp_path / "RESULTS.md").exists()


def test_replace_section_appends_an_unknown_name():
    doc = replace_section(HAND_WRITTEN, "new", "## New\n\nbody")
    assert doc.startswith(HAND_WRITTEN.rstrip("\n"))
    assert doc.endswith("<!-- bench:new -->\n## New\n\nbody\n<!-- /bench:new -->\n")


def test_markdown_table_shape_and_escaping():
    table = markdown_table(["a", "b"], [[1, "x|y"], ["two\nlines", 3.5]])
    assert table.splitlines() == ["| a | b |", "|---|---|", r"| 1 | x\|y |",
                                  "| two lines | 3.5 |"]
    with pytest.raises(ValueError, match="row 0 has 1 cells"):
        markdown_table(["a", "b"], [[1]])


def test_median_seconds_is_the_median_after_warmup(monkeypatch):
    # A fake clock: each timed call lasts the next duration in the list, so the median
    # and the warm-up handling are checked without measuring anything real.
    durations = iter([9.0, 1.0, 2.0, 3.0])  # one slow outlier: the mean would say 3.75
    now = {"t": 0.0, "started": False}

    def clock():
        if now["started"]:
            now["t"] += next(durations)
        now["started"] = not now["started"]
        return now["t"]

    calls = []
    monkeypatch.setattr(results.time, "perf_counter", clock)
    assert median_seconds(lambda: calls.append(1), repeats=4, warmup=2) == 2.5
    assert len(calls) == 6  # 2 untimed warm-up calls + 4 timed ones


def test_peak_memory_is_reported_in_mebibytes():
    peak = results.peak_rss_mb()
    now = results.rss_mb()
    if peak is None:
        pytest.skip("this platform reports no peak memory")
    # A Python process with numpy and torch loaded is tens to thousands of MiB, not KiB or
    # bytes: catches a unit slip (Linux reports KiB, macOS bytes).
    assert 10 < peak < 1_000_000
    if now is not None:
        assert now <= peak + 1
