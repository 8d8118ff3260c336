"""The discrepancy PCA basis of Makeup-Go's Component Regression Network, and the paper's
"improvement per component" measure.

    python -m editor.training.pca_basis --out ~/.cache/restora/makeup_pca.npz \
        [--pairs 3000] [--real-fraction 0.25] [--patches 200000] [--seed 0]

Discrepancy maps ``I_e = target - input`` of training pairs (held-out identities never
used) are cut into m x m x 3 patches on the stride-s lattice the network uses (m = 8,
s = 4), a seeded random sample of them is vectorised in (channel, row, column) order — the
layout of a ``conv2d`` weight — and the eigenvectors of their second-moment matrix
``E[p p^T]`` are the basis, sorted by eigenvalue, largest first. The second moment (not
the covariance) because the network rebuilds the whole discrepancy from the coefficients
with no mean term; eigenvalue ``lambda_i = E[c_i^2]`` is then each component's energy,
and its square root the coefficient's standard deviation that balances the loss.

:func:`improvement_per_component` is the paper's measure of component domination: for
each component, the fraction of its energy a model removes,
``1 - E[(k_i * (target - output))^2] / E[(k_i * (target - input))^2]`` — a plain CNN
scores high on the first few components and near zero (or below) on the small ones.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
import torch.nn.functional as F

DEFAULT_PATCH = 8
DEFAULT_STRIDE = 4
DEFAULT_OUT = Path("~/.cache/restora/makeup_pca.npz")
#: Seed stream of the pairs the basis is computed from (distinct from training batches).
PCA_STREAM = 0x50434120  # "PCA "


def lattice_patches(discrepancy: np.ndarray, patch: int, stride: int) -> np.ndarray:
    """(n, 3 * patch * patch) float64 patches of one HWC float map on the stride lattice
    (fully inside), each vectorised as (channel, row, column)."""
    x = torch.from_numpy(np.ascontiguousarray(discrepancy.transpose(2, 0, 1)))[None].float()
    cols = F.unfold(x, patch, stride=stride)[0]  # (3*m*m, n)
    return cols.T.double().numpy()


def compute_basis(pairs: Iterable[tuple[np.ndarray, np.ndarray]], patch: int = DEFAULT_PATCH,
                  stride: int = DEFAULT_STRIDE, samples: int = 200_000, seed: int = 0
                  ) -> tuple[np.ndarray, np.ndarray, dict]:
    """(basis (K, 3, m, m) float32, eigenvalues (K,) float64, stats) from (input, target)
    HWC pairs; ``samples`` patches drawn uniformly (seeded) from all lattice patches."""
    chunks = [lattice_patches(target - inp, patch, stride) for inp, target in pairs]
    if not chunks:
        raise ValueError("no pairs to compute the basis from")
    patches = np.concatenate(chunks)
    rng = np.random.default_rng(seed)
    if len(patches) > samples:
        patches = patches[rng.choice(len(patches), samples, replace=False)]
    moment = patches.T @ patches / len(patches)
    eigenvalues, vectors = np.linalg.eigh(moment)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues = np.clip(eigenvalues[order], 0.0, None)
    vectors = vectors[:, order]
    # A deterministic sign: each vector's largest-magnitude entry positive.
    signs = np.sign(vectors[np.abs(vectors).argmax(0), np.arange(vectors.shape[1])])
    vectors = vectors * np.where(signs == 0, 1.0, signs)
    k = vectors.shape[1]
    basis = vectors.T.reshape(k, 3, patch, patch).astype(np.float32)
    energy = eigenvalues / max(eigenvalues.sum(), 1e-30)
    stats = {"patches": int(len(patches)), "pairs": len(chunks),
             "energy_top1": float(energy[:1].sum()), "energy_top3": float(energy[:3].sum()),
             "energy_top10": float(energy[:10].sum())}
    return basis, eigenvalues, stats


def save_basis(path: Path, basis: np.ndarray, eigenvalues: np.ndarray, meta: dict) -> None:
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".partial.npz")
    np.savez(temporary, basis=basis, eigenvalues=eigenvalues,
             meta=np.asarray(json.dumps(meta)))
    os.replace(temporary, path)


def load_basis(path: Path) -> tuple[np.ndarray, np.ndarray, dict]:
    with np.load(Path(path).expanduser()) as data:
        return (data["basis"].astype(np.float32), data["eigenvalues"].astype(np.float64),
                json.loads(str(data["meta"])))


def component_std(eigenvalues: np.ndarray, relative_floor: float) -> np.ndarray:
    """Each component's coefficient deviation ``sqrt(lambda_i)``, floored at
    ``relative_floor`` times the largest: components below the floor are mostly noise
    (JPEG, 8-bit rounding) and would otherwise get unbounded weight in the balanced loss."""
    std = np.sqrt(np.clip(eigenvalues, 0.0, None))
    return np.maximum(std, relative_floor * std.max()).astype(np.float32)


@torch.no_grad()
def component_energies(basis: np.ndarray | torch.Tensor, maps: Iterable[np.ndarray],
                       stride: int = DEFAULT_STRIDE) -> np.ndarray:
    """(K,) mean squared coefficient of each component over all lattice patches of the HWC
    ``maps`` (e.g. residual discrepancies)."""
    kernel = torch.as_tensor(basis, dtype=torch.float32)
    total, count = torch.zeros(kernel.shape[0], dtype=torch.float64), 0
    for m in maps:
        x = torch.from_numpy(np.ascontiguousarray(m.transpose(2, 0, 1), np.float32))[None]
        c = F.conv2d(x, kernel, stride=stride)[0].double()
        total += (c ** 2).sum((1, 2))
        count += c.shape[1] * c.shape[2]
    return (total / max(count, 1)).numpy()


def improvement_per_component(basis, inputs, targets, outputs,
                              stride: int = DEFAULT_STRIDE) -> np.ndarray:
    """(K,) fraction of each component's discrepancy energy removed by a model:
    ``1 - E[c_i(target - output)^2] / E[c_i(target - input)^2]`` (1: fully reverted,
    0: no better than the input, < 0: worse)."""
    before = component_energies(basis, (t - i for i, t in zip(inputs, targets)), stride)
    after = component_energies(basis, (t - o for o, t in zip(outputs, targets)), stride)
    return 1.0 - after / np.maximum(before, 1e-30)


def summarise_improvement(improvement: np.ndarray, bounds: list[int]) -> list[dict]:
    """Mean improvement per component group (``bounds`` as :func:`group_bounds`)."""
    return [{"components": f"{a + 1}-{b}", "mean_improvement": round(float(
        improvement[a:b].mean()), 4)} for a, b in zip(bounds[:-1], bounds[1:])]


def training_pairs(count: int, real_fraction: float, seed: int,
                   data_root: Path | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """``count`` seeded training pairs (training split only): a ``real_fraction`` share of
    real makeup pairs, the rest beautified UTKFace faces."""
    from editor.training import makeup_data as md

    root = data_root or md.default_data_root()
    faces = md.load_faces(root, md.load_landmarks(root), "train")
    reals = md.load_real_pairs(root, "train")
    rng = md.stream(seed, PCA_STREAM)
    pairs = []
    n_real = int(round(count * real_fraction)) if reals else 0
    for index in rng.choice(len(reals), min(n_real, len(reals)), replace=False) if n_real else []:
        pairs.append((md.to_float(reals[index].made_up), md.to_float(reals[index].bare)))
    for i in range(count - len(pairs)):
        face = faces[int(rng.integers(len(faces)))]
        pairs.append(md.synthetic_pair(face, md.stream(seed, PCA_STREAM, i)))
    return pairs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m editor.training.pca_basis",
                                description="Compute the discrepancy PCA basis for the CRN.")
    p.add_argument("--out", default=str(DEFAULT_OUT))
    p.add_argument("--pairs", type=int, default=3000)
    p.add_argument("--real-fraction", type=float, default=0.0,
                   help="share of real pairs (default none: a real pair is two different "
                        "photos whose lighting differences would dominate the basis)")
    p.add_argument("--patches", type=int, default=200_000)
    p.add_argument("--patch", type=int, default=DEFAULT_PATCH)
    p.add_argument("--stride", type=int, default=DEFAULT_STRIDE)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    pairs = training_pairs(args.pairs, args.real_fraction, args.seed)
    basis, eigenvalues, stats = compute_basis(pairs, args.patch, args.stride, args.patches,
                                              args.seed)
    meta = {"patch": args.patch, "stride": args.stride, "pairs": args.pairs,
            "real_fraction": args.real_fraction, "seed": args.seed, **stats,
            "command": "python -m editor.training.pca_basis " + " ".join(
                sys.argv[1:] if argv is None else argv)}
    save_basis(Path(args.out), basis, eigenvalues, meta)
    print(json.dumps(meta, indent=2))
    print("sqrt(eigenvalues):", np.round(np.sqrt(eigenvalues[[0, 1, 2, 5, 10, 30, 60, 100, 150,
                                                                191]]), 5).tolist())
    return 0


if __name__ == "__main__":
    sys.exit(main())
