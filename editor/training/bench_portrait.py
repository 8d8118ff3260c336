"""``restora-cli bench portrait``: Portrait edit (Facelet-Bank) measured against issue 9's
targets, through the tool itself (detect -> align -> edit -> paste back).

1. An independent judge: a small age-regression CNN (:class:`AgeRegressor`, 64 px faces)
   trained here on the UTKFace training part (the autoencoder never sees it; cached in
   ``~/.cache/restora/bench_portrait_age.pt``); its mean absolute error on the held-out
   part is reported.
2. On 64 held-out UTKFace faces labelled 18-70 (the first the detector finds among 128
   evenly spaced by file name; the names begin with the age, so in practice these are
   the younger half, labelled 18-39, mean 27.6 — the report states the range measured):
   the judged age at strength -1, -0.5, 0, +0.5, +1 for every effect — the change
   at +1 (targets: older >= +10 years, younger <= -8) and whether the mean is monotonic in
   strength (also the share of faces monotonic on their own); dlib's identity distance
   between input and output at strength 0.7 (target <= 0.5 on average); PSNR of the
   pixels outside the face mask (target >= 40 dB), for the composited result the user
   sees and for the layer's own pixels before its mask.
3. Speed on 2 CPU threads on ``bench/faces/hq_celeba`` photos (1024 px): one slider step
   (a strength change: facelet + decoder + paste-back, the encoder output cached; target
   <= 150 ms median) and the time per face of a first run (detection, alignment,
   encoding included).
4. A contact sheet ``models/portrait_contact_sheet.png``: per hq_celeba face and effect, a
   row input | -1 | -0.5 | +0.5 | +1 (aligned face crops of the edited photos).

Writes the ``portrait`` section of ``models/RESULTS.md`` and ``models/results/portrait.json``.
bench/ is only measured, never trained or tuned on.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from editor.training import facelet_data as fd
from editor.training.results import markdown_table, write_results

NAME = "portrait"
TITLE = "Portrait edit (Facelet-Bank)"
THREADS = 2
STRENGTHS = (-1.0, -0.5, 0.0, 0.5, 1.0)
EFFECTS = ("older", "younger", "masculine", "feminine")
TARGET_OLDER = 10.0
TARGET_YOUNGER = -8.0
TARGET_IDENTITY = 0.5
TARGET_OUTSIDE_PSNR = 40.0
TARGET_SLIDER_S = 0.150
AGE_CACHE = Path("~/.cache/restora/bench_portrait_age.pt")
AGE_PX = 64
SHEET_FACES = 4


class DataMissing(RuntimeError):
    pass


def bench_data_dir() -> Path:
    return Path(__file__).resolve().parents[3] / "shared" / "data" / "bench" / "faces"


# -- the age judge -----------------------------------------------------------------------------

class AgeRegressor(nn.Module):
    """64 px RGB face -> age in years (a small CNN: per stage a 3x3 conv, batch norm,
    ReLU, a stride-2 3x3 conv; then global average and a linear layer)."""

    VERSION = 2

    def __init__(self, width: int = 24) -> None:
        super().__init__()
        layers, c = [], 3
        for w in (width, 2 * width, 3 * width, 4 * width):
            layers += [nn.Conv2d(c, w, 3, 1, 1), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                       nn.Conv2d(w, w, 3, 2, 1), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            c = w
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x - 0.5).mean((2, 3)))[:, 0] * 50.0 + 33.0


def _small(images_u8_or_float: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) RGB faces framed like UTKFace -> (N, 3, 64, 64) float tensor."""
    out = []
    for im in images_u8_or_float:
        im = im.astype(np.float32) / 255.0 if im.dtype == np.uint8 else im.astype(np.float32)
        out.append(cv2.resize(im, (AGE_PX, AGE_PX), interpolation=cv2.INTER_AREA))
    return torch.from_numpy(np.ascontiguousarray(np.stack(out).transpose(0, 3, 1, 2)))


def train_age_regressor(faces: fd.FaceSet, iters: int, log=print) -> tuple[AgeRegressor, float]:
    """(judge, held-out MAE in years); seeded, cached by its settings."""
    cache = AGE_CACHE.expanduser()
    if cache.is_file():
        saved = torch.load(cache, map_location="cpu", weights_only=False)
        if (saved.get("iters"), saved.get("faces"), saved.get("version")) == (
                iters, len(faces), AgeRegressor.VERSION):
            judge = AgeRegressor()
            judge.load_state_dict(saved["model"])
            return judge.eval(), saved["mae"]
    torch.manual_seed(0)
    train, held = faces.part("train"), faces.part("held_out")
    x_all = _small(train.images)
    ages = torch.from_numpy(train.ages.astype(np.float32))
    judge = AgeRegressor()
    opt = torch.optim.Adam(judge.parameters(), lr=2e-3)
    for it in range(iters):
        idx = torch.from_numpy(fd.batch_indices(len(train), 32, 7, it))
        x = x_all[idx]
        if it % 2:
            x = x.flip(-1)
        for g in opt.param_groups:
            g["lr"] = 2e-3 * 0.5 * (1 + np.cos(np.pi * it / iters)) + 2e-5
        loss = (judge(x) - ages[idx]).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (it + 1) % 200 == 0:
            log(f"age judge it {it + 1}/{iters}: train L1 {float(loss.detach()):.2f} y")
    judge.eval()
    with torch.no_grad():
        pred = torch.cat([judge(_small(held.images[i:i + 128]))
                          for i in range(0, len(held), 128)])
    mae = float((pred - torch.from_numpy(held.ages.astype(np.float32))).abs().mean())
    cache.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": judge.state_dict(), "iters": iters, "faces": len(faces), "mae": mae,
                "version": AgeRegressor.VERSION}, cache)
    return judge, mae


@torch.no_grad()
def judge_ages(judge: AgeRegressor, images: list[np.ndarray]) -> np.ndarray:
    return judge(_small(np.stack(images))).numpy()


# -- the measurements ----------------------------------------------------------------------

def _psnr_outside(a: np.ndarray, b: np.ndarray, outside: np.ndarray) -> float:
    if not outside.any():
        return float("nan")
    mse = float(((a[outside] - b[outside]) ** 2).mean())
    return 99.0 if mse <= 1e-12 else 10 * np.log10(1.0 / mse)


def held_out_faces(faces: fd.FaceSet, root: Path, count: int) -> list[dict]:
    """Up to ``count`` held-out faces labelled 18-70 that the detector finds (the first
    ones among ``2 * count`` evenly spaced by file name, which begins with the age), with
    their 200 px photos (from the data folder) and detected faces."""
    from editor.tools import portrait

    held = faces.part("held_out")
    ok = np.nonzero((held.ages >= 18) & (held.ages <= 70))[0]
    order = ok[np.unique(np.linspace(0, len(ok) - 1, min(len(ok), 2 * count)).astype(int))]
    picked = []
    for i in order:
        path = root / "faces_utkface" / "images" / str(held.names[i])
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            continue
        rgb = np.ascontiguousarray(bgr[:, :, ::-1]).astype(np.float32) / 255.0
        try:
            found = portrait.find_faces(rgb, _quiet())
        except ValueError:
            continue
        picked.append({"name": str(held.names[i]), "age": int(held.ages[i]), "rgb": rgb,
                       "face": max(found, key=lambda f: f.size)})
        if len(picked) == count:
            break
    return picked


def _quiet():
    from editor.engine.progress import Progress

    return Progress()


def edit_faces(picked: list[dict], judge: AgeRegressor, log=print) -> dict[str, Any]:
    from editor.faces import default_backend, face_distance
    from editor.faces.pixels import as_rgb_u8
    from editor.tools import portrait
    from editor.tools.schema import composite_masked

    backend = default_backend()
    labels = [item["age"] for item in picked]
    out: dict[str, Any] = {"faces": len(picked),
                           "labelled_ages": {"min": int(min(labels)), "max": int(max(labels)),
                                             "mean": round(float(np.mean(labels)), 1)},
                           "effects": {}}
    for effect in EFFECTS:
        ages = np.zeros((len(picked), len(STRENGTHS)))
        dist, psnr_user, psnr_layer = [], [], []
        for n, item in enumerate(picked):
            rgb = item["rgb"]
            emb_in = backend.embedding(as_rgb_u8(rgb), item["face"].landmarks)
            for j, s in enumerate(STRENGTHS + (0.7,)):
                result = portrait.portrait_image(rgb, effect=effect, strength=s)
                shown = composite_masked(rgb, result)
                if s == 0.7:
                    emb = backend.embedding(as_rgb_u8(shown), item["face"].landmarks)
                    dist.append(face_distance(emb_in, emb))
                    outside = result.mask <= 0.0
                    psnr_user.append(_psnr_outside(shown, rgb, outside))
                    psnr_layer.append(_psnr_outside(result.image, rgb, outside))
                else:
                    ages[n, j] = judge_ages(judge, [shown])[0]
            portrait.clear_cache()
        means = ages.mean(0)
        diffs = np.diff(ages, axis=1)
        # Age effects must move age their own way; the gender effects only steadily.
        sign = {"older": 1.0, "younger": -1.0}.get(effect, float(np.sign(means[-1] - means[0])))
        out["effects"][effect] = {
            "judged_age_mean_by_strength": {f"{s:+.1f}": round(float(m), 2)
                                            for s, m in zip(STRENGTHS, means)},
            "age_change_at_plus1": round(float(means[-1] - means[2]), 2),
            "age_change_at_minus1": round(float(means[0] - means[2]), 2),
            "mean_monotonic": bool(np.all(sign * np.diff(means) > 0)),
            "faces_monotonic": round(float(np.mean(np.all(sign * diffs > 0, axis=1))), 3),
            "identity_distance_at_0.7": {"mean": round(float(np.mean(dist)), 3),
                                         "max": round(float(np.max(dist)), 3)},
            "psnr_outside_face_mask_db": {
                "composited_min": round(float(np.nanmin(psnr_user)), 2),
                "layer_before_mask_mean": round(float(np.nanmean(psnr_layer)), 2),
                "layer_before_mask_min": round(float(np.nanmin(psnr_layer)), 2)},
        }
        log(f"{effect}: {out['effects'][effect]['judged_age_mean_by_strength']}, identity "
            f"{np.mean(dist):.3f}")
    return out


def _photos(bench: Path, count: int) -> list[Path]:
    files = sorted((bench / "hq_celeba").glob("*.jpg")) + sorted(
        (bench / "hq_celeba").glob("*.png"))
    if not files:
        raise DataMissing(f"no photos in {bench / 'hq_celeba'}")
    return files[:count]


def _read(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return np.ascontiguousarray(bgr[:, :, ::-1]).astype(np.float32) / 255.0


def speed(bench: Path, repeats: int) -> dict[str, Any]:
    from editor.tools import portrait

    steps, firsts = [], []
    for path in _photos(bench, 3):
        rgb = _read(path)
        n_faces = len(portrait.find_faces(rgb, _quiet()))
        portrait.clear_cache()
        t = time.perf_counter()
        portrait.portrait_image(rgb, effect="older", strength=0.5)
        firsts.append((time.perf_counter() - t) / n_faces)
        strengths = np.linspace(-0.9, 0.9, repeats)
        for s in strengths:
            t = time.perf_counter()
            portrait.portrait_image(rgb, effect="older", strength=float(s))
            steps.append(time.perf_counter() - t)
    portrait.clear_cache()
    return {"photo_px": "1024 x 1024 (hq_celeba)", "threads": torch.get_num_threads(),
            "slider_step_median_s": round(statistics.median(steps), 4),
            "slider_step_max_s": round(max(steps), 4),
            "first_run_per_face_median_s": round(statistics.median(firsts), 3),
            "steps_timed": len(steps)}


def contact_sheet(bench: Path, out_path: Path, faces: int) -> dict[str, Any]:
    """Rows (face x effect): input | -1 | -0.5 | +0.5 | +1, 128 px aligned face crops."""
    from editor.core.imageio import save_image
    from editor.faces import align_face
    from editor.tools import portrait
    from editor.tools.schema import composite_masked

    tile, label_w = 128, 92
    rows = []
    used = []
    for path in _photos(bench, faces * 2):
        rgb = _read(path)
        try:
            found = portrait.find_faces(rgb, _quiet())
        except ValueError:
            continue
        face = max(found, key=lambda f: f.size)
        used.append(path.name)
        for effect in EFFECTS:
            cells = [align_face(rgb, face, size=tile, padding=0.1)[0]]
            for s in (-1.0, -0.5, 0.5, 1.0):
                shown = composite_masked(rgb, portrait.portrait_image(rgb, effect=effect,
                                                                       strength=s))
                cells.append(align_face(shown, face, size=tile, padding=0.1)[0])
            label = np.full((tile, label_w, 3), 255, np.uint8)
            cv2.putText(label, effect, (4, tile // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.42,
                        (0, 0, 0), 1, cv2.LINE_AA)
            cells = [np.clip(np.round(c * 255), 0, 255).astype(np.uint8) for c in cells]
            rows.append(np.concatenate([label] + cells, axis=1))
        portrait.clear_cache()
        if len(used) == faces:
            break
    header = np.full((22, label_w + 5 * tile, 3), 255, np.uint8)
    for i, text in enumerate(("input", "-1", "-0.5", "+0.5", "+1")):
        cv2.putText(header, text, (label_w + i * tile + 40, 16), cv2.FONT_HERSHEY_SIMPLEX,
                    0.5, (0, 0, 0), 1, cv2.LINE_AA)
    sheet = np.concatenate([header] + rows, axis=0)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    save_image(out_path, sheet.astype(np.float32) / 255.0)
    return {"file": out_path.name, "faces": used, "size": list(sheet.shape[:2])}


# -- report ---------------------------------------------------------------------------------

def _mark(ok: bool | None) -> str:
    return "—" if ok is None else ("met" if ok else "**missed**")


def _age_range(edits: dict[str, Any]) -> str:
    ages = edits.get("labelled_ages")
    if not ages:
        return " aged 18-70"
    return f" labelled {ages['min']}-{ages['max']} years (mean {ages['mean']:.1f})"


def report(data: dict[str, Any]) -> str:
    e = data["edits"]["effects"]
    sp = data["speed"]
    lines = [
        f"Judge: a small age-regression CNN trained on the UTKFace training part, held-out "
        f"MAE **{data['age_judge']['held_out_mae']:.2f} years** "
        f"({data['age_judge']['held_out_faces']} faces). Edits through the tool on "
        f"{data['edits']['faces']} held-out UTKFace faces{_age_range(data['edits'])}, "
        f"{THREADS} CPU threads.",
        "",
    ]
    rows = []
    for effect in EFFECTS:
        r = e[effect]
        m = r["judged_age_mean_by_strength"]
        rows.append([effect] + [f"{m[k]:.1f}" for k in m] + [
            f"{r['age_change_at_plus1']:+.1f}", "yes" if r["mean_monotonic"] else "no",
            f"{100 * r['faces_monotonic']:.0f} %",
            f"{r['identity_distance_at_0.7']['mean']:.3f}",
            f"{r['psnr_outside_face_mask_db']['composited_min']:.1f} / "
            f"{r['psnr_outside_face_mask_db']['layer_before_mask_mean']:.1f}"])
    lines.append(markdown_table(
        ["effect", "age @-1", "@-0.5", "@0", "@+0.5", "@+1", "change @+1", "mean monotonic",
         "faces monotonic", "identity dist @0.7", "PSNR outside mask (shown / layer) dB"],
        rows))
    lines.append("")
    targets = data["targets"]
    lines.append(markdown_table(["target", "measured", ""],
                                [[t["target"], t["measured"], _mark(t["met"])]
                                 for t in targets]))
    lines.append("")
    lines.append(f"Slider step (strength change, encoder output cached: facelet + decoder + "
                 f"paste-back) on {sp['photo_px']} photos: median "
                 f"{1000 * sp['slider_step_median_s']:.0f} ms, max "
                 f"{1000 * sp['slider_step_max_s']:.0f} ms over {sp['steps_timed']} steps; "
                 f"first run {sp['first_run_per_face_median_s']:.2f} s per face (detection, "
                 f"alignment, encoding included).")
    if data.get("sheet"):
        lines.append("")
        lines.append(f"Contact sheet: `{data['sheet']['file']}` (rows: face x effect; "
                     "columns: input, -1, -0.5, +0.5, +1; hq_celeba "
                     + ", ".join(data["sheet"]["faces"]) + ").")
    return "\n".join(lines)


def targets(data: dict[str, Any]) -> list[dict[str, Any]]:
    e = data["edits"]["effects"]
    out = []

    def add(target, measured, met):
        out.append({"target": target, "measured": measured, "met": met})

    older, younger = e["older"]["age_change_at_plus1"], e["younger"]["age_change_at_plus1"]
    add("older at +1: judged age >= +10 years", f"{older:+.1f}", older >= TARGET_OLDER)
    add("younger at +1: judged age <= -8 years", f"{younger:+.1f}", younger <= TARGET_YOUNGER)
    mono = {k: e[k]["mean_monotonic"] for k in ("older", "younger")}
    add("age monotonic in strength (older, younger)",
        ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in mono.items()), all(mono.values()))
    worst = max(e[k]["identity_distance_at_0.7"]["mean"] for k in EFFECTS)
    add("dlib identity distance <= 0.5 at 0.7 (mean, worst effect)", f"{worst:.3f}",
        worst <= TARGET_IDENTITY)
    low = min(e[k]["psnr_outside_face_mask_db"]["composited_min"] for k in EFFECTS)
    add("outside the face mask unchanged: PSNR >= 40 dB (worst face)", f"{low:.1f} dB",
        low >= TARGET_OUTSIDE_PSNR)
    step = data["speed"]["slider_step_median_s"]
    add("slider step <= 150 ms (median, 2 threads)", f"{1000 * step:.0f} ms",
        step <= TARGET_SLIDER_S)
    return out


def run(train_root: Path, bench: Path, quick: bool, out: Path | None, judge_iters: int,
        log=print) -> dict[str, Any]:
    torch.set_num_threads(THREADS)
    t0 = time.perf_counter()
    try:
        faces = fd.load_faces(train_root)
    except FileNotFoundError as e:
        raise DataMissing(str(e)) from None
    judge, mae = train_age_regressor(faces, 50 if quick else judge_iters, log)
    picked = held_out_faces(faces, train_root, 3 if quick else 64)
    if not picked:
        raise DataMissing("no held-out face was found by the detector")
    data: dict[str, Any] = {
        "age_judge": {"held_out_mae": round(mae, 2),
                      "held_out_faces": len(faces.part("held_out")),
                      "iterations": 50 if quick else judge_iters,
                      "architecture": "4 stages (3x3 conv + BN + ReLU, stride-2 conv + BN + "
                                      "ReLU; 24-48-72-96) + linear, 64 px, L1, 32 a batch"},
        "edits": edit_faces(picked, judge, log),
        "speed": speed(bench, 3 if quick else 9),
    }
    from editor.engine.registry import models_dir

    folder = Path(out) if out is not None else Path(models_dir())
    data["sheet"] = contact_sheet(bench, folder / "portrait_contact_sheet.png",
                                  1 if quick else SHEET_FACES)
    data["targets"] = targets(data)
    data["total_seconds"] = round(time.perf_counter() - t0, 1)
    markdown = report(data)
    write_results(NAME, TITLE, markdown, data, out)
    data["markdown"] = markdown
    return data


def main(args: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="restora-cli bench portrait",
        description="Portrait edit: judged age change and monotonicity, identity, pixels "
                    "outside the face mask, slider latency, contact sheet. Writes "
                    "models/RESULTS.md and models/results/portrait.json.")
    parser.add_argument("--quick", action="store_true", help="a few faces (tests)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR")
    parser.add_argument("--data", type=Path, default=None, metavar="DIR",
                        help="training data root (default ../shared/data/train)")
    parser.add_argument("--bench", type=Path, default=None, metavar="DIR",
                        help="bench faces folder (default ../shared/data/bench/faces)")
    parser.add_argument("--judge-iters", type=int, default=1200)
    try:
        ns = parser.parse_args(args)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    train_root = ns.data if ns.data is not None else fd.default_data_root()
    bench = ns.bench if ns.bench is not None else bench_data_dir()
    try:
        data = run(train_root, bench, ns.quick, ns.out, ns.judge_iters)
    except DataMissing as e:
        print(f"restora-cli bench portrait: {e}", file=sys.stderr)
        return 2
    print(f"## {TITLE}\n\n{data['markdown']}\n\n({data['total_seconds']:.0f} s in all)")
    return 0
