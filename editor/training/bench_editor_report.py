"""The Markdown report of ``restora-cli bench editor``, kept apart from the measuring."""

from __future__ import annotations

from editor.tools.schema import PREVIEW_MARGIN
from editor.training.bench_editor import (PREVIEW_TARGET_S, TILE_TOLERANCE, VIEW_SIZE, Memory,
                                          Plan, _load_note, _mb, _ms, _peak_over, _s, _times)
from editor.training.results import PEAK_RSS_METHOD, markdown_table


def report(plan: Plan, data: dict, memory: Memory) -> tuple[str, list[str]]:
    """The Markdown for RESULTS.md and the list of failed correctness checks."""
    failures = []
    p, a, c, u, t = (data[k] for k in ("preview", "apply", "composite", "undo", "tiling"))
    bx0, by0, bx1, by1 = p["bbox"]
    preview_s = p["median_s"]
    with_debounce = preview_s + p["debounce_s"]

    def verdict(seconds: float) -> str:
        return "PASS" if seconds <= PREVIEW_TARGET_S else "MISS"

    tile_ok = t["max_abs_diff"] <= TILE_TOLERANCE
    oom_ok = t["oom_final_tile"] == t["tile"] // 2 and t["oom_max_abs_diff"] <= TILE_TOLERANCE
    if not tile_ok:
        failures.append(f"tiled output differs from untiled by {t['max_abs_diff']:.3g} > 1/255")
    if not oom_ok:
        failures.append(f"simulated OOM ended with tile {t['oom_final_tile']} "
                        f"(expected {t['tile'] // 2}), diff {t['oom_max_abs_diff']:.3g}")
    if not u["stroke_undo_exact"]:
        failures.append("undoing the brush stroke did not restore the mask exactly")
    if not c["dab_matches_full"]:
        failures.append("the dirty-rect update differs from a full composite")

    size = f"{plan.width}×{plan.height}"
    dw, dh = c["dab_box"]
    rows = [
        ["1", f"Sharpen slider preview, work per move ({bx1 - bx0}×{by1 - by0} crop: a "
              f"{min(VIEW_SIZE[0], plan.width)}×{min(VIEW_SIZE[1], plan.height)} view at 100 % "
              f"+ up to {PREVIEW_MARGIN} px margin; tool + 8-bit display conversion), "
              f"median of {len(p['seconds'])}",
         _ms(preview_s), f"target ≤ {PREVIEW_TARGET_S * 1000:.0f} ms", verdict(preview_s)],
        ["1", "… of which (timed separately): crop copy / Sharpen / 8-bit premultiplied "
              "display conversion",
         " / ".join(_ms(p["parts_median_s"][k]) for k in ("crop_copy", "tool", "display_8bit")),
         "", ""],
        ["1", f"… plus the controller's {p['debounce_s'] * 1000:.0f} ms debounce (painting not "
              "included)", _ms(with_debounce), f"target ≤ {PREVIEW_TARGET_S * 1000:.0f} ms",
         verdict(with_debounce)],
        ["2", f"Sharpen apply, full {size} layer (copy + tool), median of {len(a['seconds'])}",
         _s(a["median_s"]), "slider preview", _times(a["median_s"] / preview_s) + " the preview"],
        ["3", f"Full 3-layer composite (Document.composite, {size}), "
              f"median of {len(c['flatten_seconds'])}", _s(c["flatten_median_s"]), "", ""],
        ["3", f"Full display-cache re-render (banded composite + 8-bit + mips), "
              f"median of {len(c['rerender_seconds'])}", _s(c["rerender_median_s"]), "", ""],
        ["3", f"{dw}×{dh} brush-dab dirty rect: composite + cache update, "
              f"median of {len(c['dab_seconds'])}", _ms(c["dab_median_s"]),
         "full re-render", f"{_times(c['full_over_dab'])} faster"
         + ("" if c["dab_matches_full"] else " (MISMATCH)")],
        ["4", f"Undo: brush stroke, {u['stroke_dabs']} dabs of {u['brush_size']} px on a mask "
              f"({u['stroke_steps']} step{'s' if u['stroke_steps'] != 1 else ''}; undo exact: "
              f"{'yes' if u['stroke_undo_exact'] else 'NO'})",
         _mb(u["stroke_bytes"]), f"full copy {_mb(u['stroke_full_copy_bytes'])} (pixels + mask)",
         f"{u['stroke_ratio'] * 100:.2f} % ({_times(1 / u['stroke_ratio'])} smaller)"],
        ["4", "Undo: Sharpen result as a new layer (the step holds the layer itself, shared "
              "with the document while applied; no backup copy)",
         _mb(u["sharpen_bytes"]), f"full copy {_mb(u['sharpen_full_copy_bytes'])}",
         f"{u['sharpen_bytes'] / u['sharpen_full_copy_bytes']:.2f}×"],
        ["4", "Undo: History.nbytes for both steps", _mb(u["history_bytes"]),
         f"full copies {_mb(u['full_copy_bytes'])}", f"{u['history_ratio'] * 100:.0f} %"],
        ["5", f"TinyNet untiled, {t['image'][0]}×{t['image'][1]}, median of "
              f"{len(t['untiled_seconds'])}", _s(t["untiled_median_s"]), "", ""],
        ["5", f"TinyNet tiled (tile {t['tile']}, overlap {t['overlap']}, {t['tiles']} tiles), "
              f"median of {len(t['tiled_seconds'])}", _s(t["tiled_median_s"]), "untiled",
         f"{t['tiled_over_untiled']:.2f}×; max |diff| {t['max_abs_diff']:.2g} "
         f"({'≤' if tile_ok else '>'} 1/255: {'PASS' if tile_ok else 'FAIL'})"],
        ["5", f"Simulated OOM above {t['oom_limit_px']} px input: {t['oom_count']} OOM(s) "
              f"survived, {t['oom_tiles']} tiles", f"final tile {t['oom_final_tile']}",
         f"start tile {t['tile']}", f"{_s(t['oom_seconds'])}; max |diff| "
         f"{t['oom_max_abs_diff']:.2g} ({'PASS' if oom_ok else 'FAIL'})"],
    ]
    main = markdown_table(["#", "Measurement", "Result", "Compared with", "Ratio / verdict"], rows)

    io_rows = []
    for r in data["io"]:
        io_rows.append([f"{r['format']} {r['bit_depth']}-bit", _s(r["save_median_s"]),
                        _s(r["load_median_s"]), _mb(r["file_bytes"]),
                        _peak_over(r["save_peak_mb"], r["save_rss_before_mb"]),
                        _peak_over(r["load_peak_mb"], r["load_rss_before_mb"]),
                        f"{r['roundtrip_max_abs_error'] * 255:.2f} / 255"])
    runs = data["io"][0]["save_seconds"]
    io_table = markdown_table(
        [f"6 I/O, {size} RGB", f"save ({'single run' if len(runs) == 1 else 'median'})",
         "load", "file", "peak RSS save (+ over before)", "peak RSS load (+ over before)",
         "round-trip max error"], io_rows)

    peak = memory.peak_mb
    machine = data["environment"]
    head = (f"Synthetic seeded photo {size} ({plan.megapixels:.0f} MP; float32 RGBA layers "
            f"of {_mb(plan.width * plan.height * 16)} each){' — QUICK run' if plan.quick else ''}. "
            f"{machine['cpus']} CPU cores, torch {machine['torch']} with "
            f"{machine['torch_threads']} threads, OpenCV with {machine['opencv_threads']}. "
            f"Times are wall-clock medians"
            + _load_note(machine) + ".")
    memory_note = (f"Process peak memory over the whole run: "
                   f"{'n/a' if peak is None else f'{peak:,.0f} MiB'} — {PEAK_RSS_METHOD}"
                   + ("" if memory.resettable else
                      "; per-stage reset unavailable here, so stage peaks are run-so-far peaks")
                   + ".")
    verdict_line = (f"Preview target (~{PREVIEW_TARGET_S * 1000:.0f} ms for cheap tools): "
                    f"{verdict(preview_s)} at {_ms(preview_s)} of work per move, "
                    f"{verdict(with_debounce)} at {_ms(with_debounce)} with the debounce.")
    markdown = "\n\n".join([head, main, io_table, memory_note, verdict_line])
    return markdown, failures
