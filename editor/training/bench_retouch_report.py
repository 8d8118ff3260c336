"""The Markdown report of ``restora-cli bench retouch``, kept apart from the measuring."""

from __future__ import annotations

from editor.training.bench_retouch import CNN_OVERLAP, CNN_TILE, THREADS, Plan
from editor.training.results import PEAK_RSS_METHOD, markdown_table

EMPTY = "—"


def _mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f} MiB"


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.0f} %"


def _speed(data: dict) -> list[str]:
    speed = data["speed"]
    rows = []
    for key, what in (("ours", "Retouch tool (LPTN, Expert C)"),
                      ("cnn", f"Plain full-resolution CNN, {speed.get('cnn_params', 0):,} "
                              f"parameters, {CNN_TILE}-px tiles + {CNN_OVERLAP}-px margin")):
        for e in speed.get(key, []):
            rows.append([what, f"{e['output'][0]}×{e['output'][1]}", f"{e['median_s']:.3f} s",
                         f"{e['best_s']:.3f} s", len(e["seconds"]), _mib(e["peak_rss_mb"]),
                         _share(e["other_processes_cpu_share"])])
    if not rows:
        return ["### 1. Speed and memory", "Not measured."]
    return ["### 1. Speed and memory (full-resolution output)",
            markdown_table(["Run", "output", "time (median)", "best", "runs", "peak RSS",
                            "CPU taken by other processes"], rows),
            f"Peak memory: {PEAK_RSS_METHOD}. The CNN has random weights (speed does not "
            "depend on them) and runs once per size: its time grows with the pixel count."]


def _fivek(data: dict) -> list[str]:
    fivek = data["fivek"]
    methods = fivek.get("methods", {})
    names = fivek.get("pairs", [])
    rows = []
    for key, entry in methods.items():
        if "psnr" not in entry:
            rows.append([entry["label"], entry.get("note", entry.get("error", EMPTY)), EMPTY,
                         *[EMPTY] * len(names)])
            continue
        per = {r["name"]: r["psnr"] for r in entry["per_image"]}
        rows.append([entry["label"], f"{entry['psnr']:.2f} / {entry['ssim']:.4f}",
                     EMPTY if key == "input" else
                     f"{entry['psnr'] - methods['input']['psnr']:+.2f}",
                     *[f"{per[n]:.2f}" for n in names]])
    return [f"### 2. Quality on the {len(names)} held-out FiveK pairs (input → Expert C)",
            markdown_table(["Method", "PSNR (dB) / SSIM", "Δ vs input",
                            *[f"{n} PSNR" for n in names]], rows),
            "RGB, outputs rounded to 8 bits; pairs never trained on (indices 1, 5, 9, 13 of "
            "the sorted 17); the global baselines are fitted on the 13 training pairs."]


def _look(data: dict) -> list[str]:
    look = data["learn_look"]
    if "psnr" not in look:
        return ["### 3. Learn my look round trip",
                f"Not measured: {look.get('note', look.get('error', ''))}."]
    rows = [[r["name"], f"{r['input_psnr']:.2f}", f"{r['psnr']:.2f}", f"{r['ssim']:.4f}"]
            for r in look["per_image"]]
    rows.append(["**mean**", f"{look['input_psnr']:.2f}", f"**{look['psnr']:.2f}**",
                 f"{look['ssim']:.4f}"])
    return ["### 3. Learn my look round trip (hidden tone curve + colour matrix)",
            f"Learnt from {len(look['train_photos'])} train/natural photos "
            f"({', '.join(look['train_photos'])}) through the product's path (the global "
            f"grade fitted on the pairs' pixels, then the pre-trained pyramid, reset to the "
            f"identity, fine-tuned for {look['iterations']} steps: {look['seconds_training']:.0f}"
            f" s of training, {look['seconds_total']:.0f} s in all, on {THREADS} threads; "
            f"limit {look['time_limit_s']:.0f} s); scored on {len(rows) - 1} held-out photos "
            "with the same look, through the Retouch tool. The recipe was chosen on 8 other "
            "BSD200 training photos, never on these.",
            markdown_table(["Photo", "input vs look (dB)", "ours (dB)", "ours SSIM"], rows)]


def report(plan: Plan, data: dict) -> str:
    env = data["environment"]
    load = env.get("load_average")
    head = (("**QUICK run** (tiny images, few steps: not comparable with the targets). "
             if plan.quick else "")
            + f"{env['cpus']} CPU cores, torch {env['torch']} and OpenCV on {THREADS} threads"
            + f" (OMP_WAIT_POLICY {env.get('omp_wait_policy', '(default)')})"
            + (f", load average {load[0]:.1f} at the end (above {env['cpus']}: other "
               "processes were competing for the cores and times run high)"
               if load and load[0] > env["cpus"] + 0.5 else "") + ".")
    sections = [head, *_speed(data), *_fivek(data), *_look(data),
                "### Targets", markdown_table(["Target", "Measured", "Status"],
                                              [[t["target"], t["text"], t["status"]]
                                               for t in data["targets"]])]
    if data["errors"]:
        sections.append("Errors: " + "; ".join(data["errors"]))
    return "\n\n".join(sections)
