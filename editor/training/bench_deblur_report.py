"""The Markdown report of ``restora-cli bench deblur``, kept apart from the measuring."""

from __future__ import annotations

from pathlib import Path

from editor.training.bench_deblur import (EMPTY, LEVIN_BORDER, LEVIN_MAX_SHIFT, NOISE_SIGMA,
                                          SYNTH_BORDER, THREADS, Method, Plan)
from editor.training.results import PEAK_RSS_METHOD, markdown_table


def _cell(entry: dict | None, key: str = "psnr") -> str:
    if entry is None:
        return EMPTY
    if "error" in entry:
        return f"error: {entry['error']}"
    return f"{entry['psnr']:.2f} / {entry['ssim']:.4f}"


def _part_table(rows: list[Method], results: dict, kernel_part: bool) -> str:
    table = []
    for method in rows:
        entry = results.get(method.key)
        if method.run is None:
            table.append([method.label, method.note, EMPTY, EMPTY, EMPTY])
        elif entry is None:
            why = "n/a: needs the true kernel" if method.needs_kernel and not kernel_part \
                else "not run"
            table.append([method.label, why, EMPTY, EMPTY, EMPTY])
        elif "error" in entry:
            table.append([method.label, f"error: {entry['error']}", EMPTY, EMPTY, EMPTY])
        else:
            gain = EMPTY if method.key == "input" else f"{entry['gain_db']:+.2f}"
            worse = EMPTY if method.key == "input" else \
                f"{entry['worse_than_input']} of {entry['images']}"
            table.append([method.label, _cell(entry), gain, worse,
                          f"{entry['median_s_per_mp']:.2f}"])
    return markdown_table(["Method", "PSNR (dB) / SSIM", "Δ PSNR vs input",
                           "images worse than input", "s per MP (median)"], table)


def report(plan: Plan, data: dict, rows: list[Method], parts: dict, real_rows: list[dict],
           sheet_path: Path | None, speed: dict, targets: list[dict]) -> str:
    env = data["environment"]
    load = env.get("load_average")
    head = (("**QUICK run** (2 cropped images per part, small timing image: not comparable "
             "with the targets). " if plan.quick else "")
            + f"{env['cpus']} CPU cores, torch {env['torch']} on {THREADS} threads"
            + (f", load average {load[0]:.1f} at the end (above {env['cpus']}: other "
               "processes were competing for the cores and times run high)"
               if load and load[0] > env["cpus"] + 0.5 else "")
            + ". PSNR / SSIM on RGB after 8-bit rounding. Richardson–Lucy and Wiener are "
              "given the TRUE kernel (non-blind references); ours is blind. Baseline "
              "settings were fixed on held-out training images, never on these.")
    sections = [head]
    titles = {"synthetic": f"1. Synthetic held-out (B100, fixed-seed shake/defocus kernels "
                           f"never used in training, noise σ = {NOISE_SIGMA * 100:g} %, "
                           f"{SYNTH_BORDER}-px border)",
              "levin": f"2. Levin et al. (grey, best shift within ±{LEVIN_MAX_SHIFT} px per "
                       f"method, {LEVIN_BORDER}-px border)",
              "gopro": "3. GoPro pairs (real non-uniform blur; no true kernel)"}
    for key, title in titles.items():
        if key in parts:
            count = parts[key].get("input", {}).get("images", 0)
            sections += [f"### {title}, {count} images",
                         _part_table(rows, parts[key], key != "gopro")]
    if real_rows:
        table = [[r["image"], f"{r['size'][0]}×{r['size'][1]}",
                  f"{r['sharpness_input']:.1f}",
                  EMPTY if r["sharpness_ours"] is None else f"{r['sharpness_ours']:.1f}"]
                 for r in real_rows]
        sheet = (f"Contact sheet (input | ours): `{sheet_path.name}` beside this file."
                 if sheet_path else "Contact sheet not written (dry run).")
        sections += ["### 4. Real blurry photos (no ground truth)", sheet,
                     markdown_table(["Image", "size", "sharpness of input (var. of "
                                     "Laplacian)", "sharpness of ours"], table)]
    if speed:
        table = [[e["label"], f"{e['input'][0]}×{e['input'][1]}",
                  f"{e['median_s']:.3f} s", f"{e['s_per_output_mp']:.3f}",
                  "n/a" if e["peak_rss_mb"] is None else f"{e['peak_rss_mb']:,.0f} MiB"]
                 for e in speed.values()]
        sections += ["### Speed and memory",
                     markdown_table(["Run", "image", "time (median)", "s per MP",
                                     "peak RSS"], table),
                     f"Peak memory: {PEAK_RSS_METHOD}."]
    else:
        sections += ["### Speed and memory", f"Not measured: {data['model']['note']}."]
    sections += ["### Targets", markdown_table(["Target", "Measured", "Status"],
                                               [[t["target"], t["text"], t["status"]]
                                                for t in targets])]
    if data["errors"]:
        sections.append("Errors: " + "; ".join(data["errors"]))
    return "\n\n".join(sections)
