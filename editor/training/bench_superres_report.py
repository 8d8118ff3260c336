"""The Markdown report of ``restora-cli bench superres`` (tables and targets), kept apart
from the measuring so each file stays readable."""

from __future__ import annotations

import math
import statistics

from editor.training.bench_superres import EMPTY, Method, OTHERS_SHARE_WARNING, Plan, THREADS
from editor.training.results import PEAK_RSS_METHOD, markdown_table


def _db(value: float | None) -> str:
    if value is None:
        return EMPTY
    return "∞" if math.isinf(value) else f"{value:.2f}"


def _mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f} MiB"


def _share(share: float | None) -> str:
    if share is None:
        return "n/a"
    return f"{share:.0%}" + (" (times run high)" if share > OTHERS_SHARE_WARNING else "")


def _peak(entry: dict) -> str:
    peak, before = entry["peak_rss_mb"], entry["rss_before_mb"]
    if peak is None:
        return "n/a"
    return _mib(peak) + ("" if before is None else f" (+{max(0.0, peak - before):,.0f})")


def _quality_cell(entry: dict | None) -> str:
    if entry is None:
        return EMPTY
    if "error" in entry:
        return f"error: {entry['error']}"
    return f"{_db(entry['psnr_y'])} / {entry['ssim_y']:.4f}"


def report(plan: Plan, data: dict, methods: dict[str, Method],
           by_scale: dict[int, list[Method]], quality: dict, speed: dict,
           real: dict | None, targets: list[dict]) -> str:
    env = data["environment"]
    set_names = list(dict.fromkeys(s["set"] for s in data["sets"]))
    counts = {(s["set"], s["scale"]): len(s["images"]) for s in data["sets"]}
    load = ""
    share = env["other_processes_cpu_share"]
    if share is not None:
        load = f"; other processes used {share:.0%} of the machine during the run"
        if share > OTHERS_SHARE_WARNING:
            load += " (they were competing for the cores: times run high)"
    elif env["load_average_start"] is not None:
        load = (f"; 1-minute load average {env['load_average_start']:.1f} at the start, "
                f"{env['load_average_end']:.1f} at the end")
    head = (("**QUICK run** (2 images per set, small timing image: not comparable with the "
             "targets). " if plan.quick else "")
            + f"{env['cpus']} CPU cores, torch {env['torch']} and OpenCV {env['opencv']} on "
            f"{THREADS} threads{load}. Scores: PSNR (dB) / SSIM on BT.601 luma, {EMPTY} where "
            "a set has no data at that scale; border = scale px cropped, HR cropped to "
            "LR × scale, every output clipped and rounded to 8 bits first. Our networks run "
            "directly at their native scale on the benchmark's LR, whole image, and are "
            "scored on their raw output: the tool's mean-colour correction and strength "
            "blend are not applied. Peers: OpenCV's published dnn_superres graphs, run "
            "the way cv2.dnn_superres runs them.")

    images = {name: max(n for (s, _), n in counts.items() if s == name) for name in set_names}
    headers = (["×", "Method"] + [f"{name} ({images[name]} images)" for name in set_names]
               + ["s per output MP (median over images)"])
    rows = []
    for scale, scale_methods in by_scale.items():
        for method in scale_methods:
            if method.run is None:
                # The reason once, in the first column; repeating it per set is noise.
                rows.append([scale, method.label, method.note]
                            + [EMPTY] * (len(set_names) - 1) + [EMPTY])
                continue
            cells = [_quality_cell(quality.get(method.key, {}).get(name)) for name in set_names]
            entries = [e for e in quality.get(method.key, {}).values() if "median_s_per_mp" in e]
            timing = EMPTY
            if entries:
                timing = f"{statistics.median(e['median_s_per_mp'] for e in entries):.3f}"
                shares = [e["other_processes_cpu_share"] for e in entries
                          if e.get("other_processes_cpu_share") is not None]
                if shares and max(shares) > OTHERS_SHARE_WARNING:
                    timing += f" (disturbed: other processes took up to {max(shares):.0%})"
            rows.append([scale, method.label] + cells + [timing])
    quality_table = markdown_table(headers, rows)

    speed_rows = []
    for key, entry in speed.items():
        method = methods.get(key)
        params = method.params if method is not None else None
        size = method.file_bytes if method is not None else None
        runs = len(entry["seconds"])
        repeats = ("1 run" if runs == 1
                   else f"median of {runs}, best {entry['best_s']:.3f} s")
        if entry.get("attempts", 1) > 1:
            repeats += f"; least disturbed of {entry['attempts']} attempts"
        speed_rows.append([
            entry["label"], f"{entry['input'][0]}×{entry['input'][1]} → "
                            f"{entry['output'][0]}×{entry['output'][1]}",
            f"{entry['median_s']:.3f} s ({repeats})",
            f"{entry['s_per_output_mp']:.3f}",
            _share(entry["other_processes_cpu_share"]),
            _peak(entry),
            f"{params:,}" if params is not None else EMPTY,
            f"{size / 1e6:.3f} MB" if size is not None else EMPTY])
    speed_table = markdown_table(
        ["Fixed-size run", "input → output", "time", "s per output MP",
         "CPU taken by other processes", "peak RSS (+ over before)", "parameters",
         "weights file"], speed_rows) \
        if speed_rows else "No method could be timed."

    parts = [head, "### Quality", quality_table, "### Speed and memory", speed_table,
             f"Peak memory: {PEAK_RSS_METHOD}; \"+\" is its growth during the timed "
             "calls (0 where they fit in memory the process already held)."]
    if real is not None:
        real_rows = []
        for r in real["rows"].values():
            clean = (EMPTY if r["clean_psnr_y"] is None
                     else f"{_db(r['clean_psnr_y'])} / {r['clean_ssim_y']:.4f}")
            real_rows.append([r["label"], clean,
                              f"{_db(r['degraded_psnr_y'])} / {r['degraded_ssim_y']:.4f}"])
        missing = [m for m in by_scale.get(4, [])
                   if m.run is None and m.mode in ("quality", "real")]
        real_rows += [[m.label, m.note, EMPTY] for m in missing]
        parts += ["### Real-photo test (B100 ×4)",
                  f"{real['protocol']}; {real['images']} images.",
                  markdown_table(["Method", "clean LR: PSNR / SSIM",
                                  "noisy + JPEG LR: PSNR / SSIM"], real_rows)]
    parts += ["### Targets",
              markdown_table(["Target", "Measured", "Status"],
                             [[t["target"], t["text"], t["status"]] for t in targets])]
    if data["errors"]:
        parts.append("Errors: " + "; ".join(data["errors"]))
    return "\n\n".join(parts)


# -- entry point -----------------------------------------------------------------------------
