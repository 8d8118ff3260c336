"""The shipped models: the explicit list of every trained model the application offers.

Each entry names its architecture and constructor kwargs here, in code, so reading this file
tells you what can run. The one thing that changes on every retrain, the weights' sha256,
is read from the model card ``models/<id>.json`` that ``editor.training.export_sr`` writes
beside the weights, so shipping new weights is "replace two files", not a code edit. A
model whose card is missing is still registered, with a placeholder checksum, so menus list
it and loading it gives the engine's clear "weights file not found" message.

Imported at the end of :mod:`editor.engine.registry` (so ``REGISTRY`` is always complete)
and kept torch-free: architectures are lazy builders, cards are plain JSON.
"""

from __future__ import annotations

import json

from editor.engine.registry import (REGISTRY, ModelSpec, find_weights, lazy_builder,
                                    register_architecture)

register_architecture("residual_sr", lazy_builder("editor.nets.sr_residual", "ResidualSR"))
register_architecture("espcn", lazy_builder("editor.nets.espcn", "ESPCN"))

#: Checksum of a model whose card is absent: no file has it, so loading fails clearly.
MISSING_SHA256 = "0" * 64

SR_LICENCE = ("Trained on T91 (research use) and BSD200 (Berkeley: non-commercial "
              "research); non-commercial research use only.")

# ResidualSR, 48 channels x 4 blocks: receptive radius 11 LR px -> overlap 2 x 11, rounded up.
_QUALITY = {"channels": 48, "blocks": 4, "base": "bicubic"}
_QUALITY_OVERLAP = 24
# ESPCN 32/16: radius 4 LR px (5x5 + 3x3 + 3x3) -> overlap >= 8; 10 leaves a margin.
_FAST = {"width": 32, "mid": 16, "residual": True}
_FAST_OVERLAP = 10


def card_sha256(model_id: str) -> str:
    """The sha256 recorded in ``<model_id>.json``, or MISSING_SHA256 when there is no
    readable card (a fresh checkout without weights, a typo'd card)."""
    try:
        with open(find_weights(f"{model_id}.json"), encoding="utf-8") as fh:
            sha = json.load(fh).get("sha256", "")
    except (OSError, ValueError):
        return MISSING_SHA256
    return sha if isinstance(sha, str) and len(sha) == 64 else MISSING_SHA256


def _sr(model_id: str, architecture: str, scale: int, kwargs: dict, overlap: int,
        description: str) -> ModelSpec:
    return REGISTRY.register(ModelSpec(
        id=model_id, task="superres", architecture=architecture,
        weights=f"{model_id}.safetensors", sha256=card_sha256(model_id), licence=SR_LICENCE,
        scale=scale, tiling=True, tile_overlap=overlap,
        arch_kwargs={"scale": scale, **kwargs}, description=description))


for _scale in (2, 3, 4):
    _sr(f"sr-quality-x{_scale}", "residual_sr", _scale, _QUALITY, _QUALITY_OVERLAP,
        f"Super-resolution x{_scale}, quality: residual CNN over bicubic "
        "(MATLAB-bicubic training pairs)")
_sr("sr-fast-x2", "espcn", 2, _FAST, _FAST_OVERLAP,
    "Super-resolution x2, fast preview: ESPCN-class sub-pixel CNN")
_sr("sr-real-x4", "residual_sr", 4, _QUALITY, _QUALITY_OVERLAP,
    "Super-resolution x4 for real photos: trained on blurred, noisy, JPEG-compressed inputs")

# -- Deblur --------------------------------------------------------------------------------------
register_architecture("srn_deblur", lazy_builder("editor.nets.srn_deblur", "SRNDeblur"))

DEBLUR_LICENCE = ("Trained on synthetic blur of T91 (research use) and BSD200 (Berkeley: "
                  "non-commercial research); non-commercial research use only.")
# SRN-DeblurNet at width 12 (12-24-48), 3 levels: keep in step with export_deblur's card.
_DEBLUR_ARCH = {"width": 12, "scales": 3}
# The theoretical receptive radius is ~1300 px (editor.nets.srn_deblur.receptive_radius),
# far beyond any useful tile; what the network really uses is measured at export
# (context_radius: outputs within 0.5/255 of the untiled ones) and export_deblur refuses
# weights needing more than this overlap / 2 of context.
_DEBLUR_OVERLAP = 320

REGISTRY.register(ModelSpec(
    id="deblur-srn", task="deblur", architecture="srn_deblur",
    weights="deblur-srn.safetensors", sha256=card_sha256("deblur-srn"), licence=DEBLUR_LICENCE,
    scale=1, tiling=True, tile_overlap=_DEBLUR_OVERLAP, arch_kwargs=_DEBLUR_ARCH,
    description="Deblur: scale-recurrent network (SRN-DeblurNet, Tao et al. 2018) trained on "
                "synthetic camera shake, motion, defocus and moving-crop blur"))

# -- Makeup removal (Makeup-Go) ------------------------------------------------------------------
register_architecture("crn", lazy_builder("editor.nets.crn", "ComponentRegressionNet"))
register_architecture("plain_makeup_cnn", lazy_builder("editor.nets.crn", "PlainCNN"))

MAKEUP_LICENCE = ("Trained on UTKFace (non-commercial research) with synthetic "
                  "beautification, and on real makeup pairs from FAM, MIFS, VMU and YMU "
                  "(research use); non-commercial research use only.")
# Keep in step with export_makeup's card (arch_kwargs). The CRN's PCA basis and component
# deviations are buffers inside the weights. Whole aligned face crops: no tiling.
_MAKEUP_ARCH = {"width": 64, "depth": 4, "groups": 3}

REGISTRY.register(ModelSpec(
    id="makeup-go", task="makeup_removal", architecture="crn",
    weights="makeup-go.safetensors", sha256=card_sha256("makeup-go"), licence=MAKEUP_LICENCE,
    scale=1, tiling=False, tile_overlap=0,
    arch_kwargs={"components": 192, "patch": 8, **_MAKEUP_ARCH},
    description="Remove makeup / beautification: Makeup-Go's Component Regression Network "
                "(Chen, Shen, Jia, ICCV 2017) on aligned face crops"))
REGISTRY.register(ModelSpec(
    id="makeup-plain", task="makeup_removal", architecture="plain_makeup_cnn",
    weights="makeup-plain.safetensors", sha256=card_sha256("makeup-plain"),
    licence=MAKEUP_LICENCE, scale=1, tiling=False, tile_overlap=0, arch_kwargs=_MAKEUP_ARCH,
    description="Makeup removal baseline: the same trunk as makeup-go, predicting the "
                "discrepancy in pixels with the plain L2 loss (for comparison)"))

# -- Retouch (LPTN) ------------------------------------------------------------------------------
register_architecture("lptn", lazy_builder("editor.nets.lptn", "LPTN"))

RETOUCH_BASE_LICENCE = ("Trained on T91 (research use) and BSD200 (Berkeley: non-commercial "
                        "research) with synthetic colour/tone distortions; non-commercial "
                        "research use only.")
RETOUCH_FIVEK_LICENCE = ("Fine-tuned on 13 MIT-Adobe FiveK pairs, Expert C (FiveK: research "
                         "use) from weights pre-trained on T91 and BSD200 (Berkeley: "
                         "non-commercial research); non-commercial research use only.")
# Keep in step with export_retouch's card. The whole photo goes through at once (the low
# band is at most 64 px across whatever the size): no tiling.
RETOUCH_ARCH = {"levels": 3, "low_width": 64, "low_blocks": 5, "mask_width": 32,
                "mask_blocks": 3, "refine_width": 16, "low_side": 64, "instance_norm": False}

for _id, _licence, _arch, _text in (
        ("retouch-base", RETOUCH_BASE_LICENCE, RETOUCH_ARCH,
         "Retouch, neutral auto-correction: LPTN (Liang et al. 2021) pre-trained to undo "
         "random exposure, contrast, gamma, white-balance, saturation and curve edits"),
        ("retouch-expert-c", RETOUCH_FIVEK_LICENCE, {**RETOUCH_ARCH, "global_tone": True},
         "Retouch, Expert C style: LPTN with a global grade (curve, colour matrix, curve) "
         "fitted to MIT-Adobe FiveK Expert C retouches")):
    REGISTRY.register(ModelSpec(
        id=_id, task="retouch", architecture="lptn", weights=f"{_id}.safetensors",
        sha256=card_sha256(_id), licence=_licence, scale=1, tiling=False, tile_overlap=0,
        arch_kwargs=_arch, description=_text))

# -- Video super-resolution (SPMC) ---------------------------------------------------------------
register_architecture("spmc", lazy_builder("editor.nets.spmc", "SPMCVideoSR"))

VIDEO_LICENCE = ("Trained on synthetic clips (moving crops) of T91 (research use) and BSD200 "
                 "(Berkeley: non-commercial research); non-commercial research use only.")
# Keep in step with export_video_sr's card. One set of weights for x2, x3, x4 and any number
# of frames; the tool tiles the frames itself (editor.tools.video_sr), so scale=1 here.
VIDEO_ARCH = {"flow_width": 24, "widths": (16, 32, 48), "hidden": 32}

REGISTRY.register(ModelSpec(
    id="video-spmc", task="video_sr", architecture="spmc",
    weights="video-spmc.safetensors", sha256=card_sha256("video-spmc"), licence=VIDEO_LICENCE,
    scale=1, tiling=False, tile_overlap=0, arch_kwargs=VIDEO_ARCH,
    description="Video super-resolution x2/x3/x4: sub-pixel motion compensation (SPMC, Tao et "
                "al. 2017) with a ConvLSTM detail-fusion network over 3, 5 or 7 frames"))

# -- Portrait edit (Facelet-Bank) ----------------------------------------------------------------
register_architecture("face_autoencoder", lazy_builder("editor.nets.facelet", "FaceAutoencoder"))
register_architecture("facelet", lazy_builder("editor.nets.facelet", "Facelet"))

FACELET_LICENCE = ("Trained on UTKFace aligned faces and their age/gender labels (UTKFace: "
                   "non-commercial research); non-commercial research use only.")
# Keep in step with export_facelet's cards. Whole aligned face crops: no tiling.
FACE_AUTOENCODER_ARCH = {"features": 64, "width": 64, "blocks": 2}
FACELET_ARCH = {"features": 64, "width": 48}

REGISTRY.register(ModelSpec(
    id="face-autoencoder", task="portrait_autoencoder", architecture="face_autoencoder",
    weights="face-autoencoder.safetensors", sha256=card_sha256("face-autoencoder"),
    licence=FACELET_LICENCE, scale=1, tiling=False, tile_overlap=0,
    arch_kwargs=FACE_AUTOENCODER_ARCH,
    description="Portrait edit: the shared face encoder/decoder of the Facelet-Bank (Chen et "
                "al. 2018), trained with age and gender heads"))
for _effect, _text in (("older", "older"), ("younger", "younger"),
                       ("masculine", "more masculine"), ("feminine", "more feminine")):
    REGISTRY.register(ModelSpec(
        id=f"facelet-{_effect}", task="portrait_facelet", architecture="facelet",
        weights=f"facelet-{_effect}.safetensors", sha256=card_sha256(f"facelet-{_effect}"),
        licence=FACELET_LICENCE, scale=1, tiling=False, tile_overlap=0, arch_kwargs=FACELET_ARCH,
        description=f"Portrait edit facelet: {_text} (feature-space edit learnt from "
                    "deep-feature-interpolation pseudo targets)"))

# -- Face enhance (FRGD, issue 8) ---------------------------------------------------------------
register_architecture("frgd_unet", lazy_builder("editor.nets.frgd_unet", "FRGDUNet"))
register_architecture("frgd_regression_unet",
                      lazy_builder("editor.nets.frgd_unet", "RegressionUNet"))
register_architecture("face_id", lazy_builder("editor.nets.face_id", "FaceIdNet"))

FACE_ENHANCE_LICENCE = ("Trained on UTKFace (non-commercial research) aligned faces, "
                        "synthetically degraded, with dlib's face-recognition embeddings "
                        "(dlib model: CC0/Boost) as identity targets; non-commercial research "
                        "use only.")
# Keep in step with export_face_enhance's cards. Whole aligned 128 px faces: no tiling.
FRGD_ARCH = {"widths": (16, 32, 64)}
#: frgd-face is the two-stage model: conditioned on frgd-l1's restoration (FRGDUNet.prior).
FRGD_FACE_ARCH = {**FRGD_ARCH, "prior": "frgd-l1"}
FACE_ID_ARCH = {"width": 16, "input_size": 64}

for _id, _arch, _kwargs, _text in (
        ("frgd-face", "frgd_unet", FRGD_FACE_ARCH,
         "Face enhance: Face-Recognition-Guided Diffusion, a conditional DDPM U-Net "
         "(v-prediction, identity by FiLM, classifier-free dropout) on aligned 128 px faces, "
         "refining frgd-l1's restoration"),
        ("frgd-l1", "frgd_regression_unet", FRGD_ARCH,
         "Face enhance baseline: the same U-Net as frgd-face trained as a regression with "
         "L1 (non-generative; for the benchmark)"),
        ("face-id", "face_id", FACE_ID_ARCH,
         "Identity network: a small CNN distilled from dlib's 128-D face embedding (the "
         "differentiable identity of FRGD's guidance)")):
    REGISTRY.register(ModelSpec(
        id=_id, task="face_enhance", architecture=_arch, weights=f"{_id}.safetensors",
        sha256=card_sha256(_id), licence=FACE_ENHANCE_LICENCE, scale=1, tiling=False,
        tile_overlap=0, arch_kwargs=_kwargs, description=_text))
