"""bench faces' verdicts: a paste-back that adds a seam fails, one that only inherits the
photo's own edges is told apart, and missed quality targets say MISSED."""

from __future__ import annotations

from editor.cli_bench import BENCHMARKS
from editor.training.bench_faces import report, seam_summary, targets


def _data(seam_rows, crn=31.0):
    return {
        "detection": {"hq": {"images": 2, "found": 2, "detect_seconds_mean": 1.0,
                             "landmark_ms_mean": 5.0}},
        "makeup": {part: {"pairs": 3, "psnr": {"input": 29.0, "plain": 30.0, "crn": crn},
                          "ssim": {"input": 0.9, "plain": 0.9, "crn": 0.9},
                          "identity_pairs": 3,
                          "identity": {"input": 0.2, "plain": 0.2, "crn": 0.1}}
                   for part in ("synthetic", "real")},
        "seam": seam_summary(seam_rows),
        "speed": {"crop_256": {"size": 256, "median_seconds": 0.1},
                  "tool_crop": {"size": 192, "median_seconds": 0.05}},
    }


def _verdicts(data):
    return {t["target"]: t["verdict"] for t in targets(data)}


def test_registered():
    assert "faces" in BENCHMARKS


def test_seam_from_the_photo_itself_is_told_apart_from_one_the_paste_added():
    inherited = [{"seam_ratio": 1.9, "input_ratio": 1.9, "with_colour_match": 1.9},
                 {"seam_ratio": 1.0, "input_ratio": 1.0, "with_colour_match": 1.1}]
    v = _verdicts(_data(inherited))
    assert v["paste-back seam ≤ 1.2 (every face; output alone)"] == "MISSED"
    assert v["seam added by the paste-back (output / untouched photo) ≤ 1.2"] == "PASS"
    added = [{"seam_ratio": 1.6, "input_ratio": 1.0, "with_colour_match": 1.6}]
    v = _verdicts(_data(added))
    assert v["seam added by the paste-back (output / untouched photo) ≤ 1.2"] == "MISSED"


def test_quality_targets_and_report():
    data = _data([{"seam_ratio": 1.0, "input_ratio": 1.0, "with_colour_match": 1.0}],
                 crn=30.4)
    v = _verdicts(data)
    assert v["synthetic: ours ≥ input + 3 dB"] == "MISSED"
    assert v["synthetic: ours ≥ plain CNN + 0.5 dB"] == "MISSED"
    assert v["every HQ face found"] == "PASS"
    data["targets"] = targets(data)
    text = report(data)
    assert "| synthetic | 3 |" in text and "MISSED" in text
