"""Face enhance: restore faces too small or too degraded for a regression model with
Face-Recognition-Guided Diffusion (FRGD; models ``frgd-face`` and ``face-id``).

Per detected face: align (face toolkit, the canonical frame at :data:`FRAME_PX` px inside
a padded crop) -> the face's own resolution in the photo is the low-quality input (the
frame down-scaled to the face's pixel size) -> the regression stage ``frgd-l1`` restores
its up-sampled copy -> a DDIM sample of the conditional diffusion model refining that
restoration (:mod:`editor.nets.frgd_sampler`), guided toward the reference identity and
the photo's content by the ``identity`` slider -> paste back inside the face mask. The
result is the whole RGB image with every face enhanced, masked to the faces ("Whole face" region):
a new layer in the editor, composited from the command line.

The reference identity is dlib's vector of the reference photo's face
(:mod:`editor.tools.face_reference`); without one, each face's own vector (from
detection; the identity network's when detection gave none). ``seed`` picks the sample
(face ``i`` uses ``seed + i``); "Sample again" in the GUI is a new seed. ``strength``
blends the change and is cheap: the sampled faces of the last image are kept.

Bad input (a ValueError with a message, nothing changes): no face, faces too small to
align (< :data:`MIN_FACE_PX`), a reference with no face, several faces, a tiny or blurred
reference face.
"""

from __future__ import annotations

import cv2
import numpy as np

from editor.engine.progress import Progress
from editor.tools.face_common import (LastResult, NoFaceFound, find_usable_faces, image_key,
                                     merge_rgb, split_rgb)
from editor.tools.model_slot import ModelSlot
from editor.tools.schema import Masked, Param, Tool

MODEL_ID = "frgd-face"
ID_MODEL_ID = "face-id"
#: The regression stage the diffusion model refines (its ``prior``; see FRGDUNet).
PRIOR_MODEL_ID = "frgd-l1"
#: The diffusion model's face frame (px) and the padded crop it sits in.
FRAME_PX = 128
PADDING = 0.25
CROP_PX = int(round(FRAME_PX * (1 + 2 * PADDING)))
_OFFSET = (CROP_PX - FRAME_PX) // 2
#: Faces narrower than this (Face.size, px) have too few pixels for landmarks to align.
MIN_FACE_PX = 14
#: The smallest low-quality side handed to the content guidance.
MIN_LQ_SIDE = 8

SLOT = ModelSlot(MODEL_ID, "face-enhance diffusion model")
ID_SLOT = ModelSlot(ID_MODEL_ID, "face identity network")
PRIOR_SLOT = ModelSlot(PRIOR_MODEL_ID, "face-enhance regression stage")


_face_finder = None


def set_face_finder(finder):
    """Use ``finder(rgb, progress) -> list[Face]`` instead of detection (None: detect);
    returns the previous one."""
    global _face_finder
    previous, _face_finder = _face_finder, finder
    return previous


def find_faces(rgb: np.ndarray, progress: Progress, own_identity: bool):
    """Usable faces (with dlib vectors when ``own_identity``), or NoFaceFound."""
    if _face_finder is not None:
        return _face_finder(rgb, progress)
    return find_usable_faces(rgb, progress, MIN_FACE_PX, "to align", embeddings=own_identity)


def _tensor(image: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))[None].copy())


def face_scale(matrix: np.ndarray) -> float:
    """Crop pixels per photo pixel of an alignment matrix."""
    return float(np.hypot(matrix[0, 0], matrix[0, 1]))


def low_quality_input(frame: np.ndarray, scale: float) -> np.ndarray:
    """The aligned frame brought back to the face's own resolution in the photo (its
    pixels are all the information there is): float32 RGB, side >= MIN_LQ_SIDE."""
    side = int(np.clip(round(FRAME_PX / max(scale, 1e-6)), MIN_LQ_SIDE, FRAME_PX))
    if side == FRAME_PX:
        return frame
    return cv2.resize(frame, (side, side), interpolation=cv2.INTER_AREA)


def identity_of(id_net, frame: np.ndarray) -> np.ndarray:
    """The identity network's (dlib-scale) vector of an aligned RGB frame."""
    import torch

    with torch.no_grad():
        return id_net(_tensor(frame).float())[0].numpy()


def enhance_face(net, id_net, lq_small: np.ndarray, reference: np.ndarray | None,
                 identity: float, seed: int, progress: Progress | None = None,
                 prior=None) -> np.ndarray:
    """One aligned face (FRAME_PX, float32 RGB) sampled from its low-quality version."""
    import torch

    from editor.nets.frgd_sampler import sample

    def report(fraction: float) -> None:
        if progress is not None:
            progress.set_progress(fraction)

    ref = None if reference is None else torch.from_numpy(
        np.asarray(reference, np.float32)[None].copy())
    with torch.inference_mode(False):
        out = sample(net, _tensor(lq_small).float(), ref, identity, seed, id_net=id_net,
                     side=FRAME_PX, progress=report, prior=prior)
    return out[0].permute(1, 2, 0).numpy().astype(np.float32)


def _paste_mask(face, matrix: np.ndarray) -> np.ndarray:
    """The face region in crop coordinates, kept inside the frame the network saw."""
    from editor.faces import face_in_crop, region_mask

    mask = region_mask(face_in_crop(face, matrix), (CROP_PX, CROP_PX), "face")
    inside = np.zeros_like(mask)
    inside[_OFFSET:_OFFSET + FRAME_PX, _OFFSET:_OFFSET + FRAME_PX] = 1.0
    inside = cv2.GaussianBlur(inside, (0, 0), 2.0)
    return mask * inside


def enhance_faces(rgb: np.ndarray, faces, net, id_net, identity: float, seed: int,
                  reference: np.ndarray | None, progress: Progress, prior=None) -> np.ndarray:
    """``rgb`` with every face replaced by its FRGD sample (full strength)."""
    from editor.faces import align_face, paste_back

    out = rgb.copy()
    for i, face in enumerate(faces):
        progress.check_cancelled()
        sub = progress.sub_progress(i / len(faces), (i + 1) / len(faces))
        sub.set_progress(0.0, f"Face {i + 1} of {len(faces)}")
        crop, matrix = align_face(rgb, face, size=CROP_PX, padding=PADDING)
        frame = np.ascontiguousarray(crop[_OFFSET:_OFFSET + FRAME_PX, _OFFSET:_OFFSET + FRAME_PX])
        lq_small = low_quality_input(frame, face_scale(matrix))
        ref = reference
        if ref is None:
            ref = face.embedding if face.embedding is not None else identity_of(id_net, frame)
        result = enhance_face(net, id_net, lq_small, ref, identity, seed + i, sub, prior)
        edited = crop.copy()
        edited[_OFFSET:_OFFSET + FRAME_PX, _OFFSET:_OFFSET + FRAME_PX] = result
        paste_back(out, crop, edited, matrix, mask_crop=_paste_mask(face, matrix), out=out)
    progress.set_progress(1.0)
    return out


def load_prior(net):
    """The regression stage ``net`` refines (None for a model conditioned on the bicubic
    up-sampling); a missing or other-named model raises the engine's one-line error."""
    from editor.engine.weights import WeightsError

    wanted = getattr(net, "prior", None)
    if wanted is None:
        return None
    source = PRIOR_SLOT.current()
    if source.spec is not None and source.spec.id != wanted:
        raise WeightsError(f"The face-enhance model refines {wanted!r}, but "
                           f"{source.spec.id!r} is installed as its regression stage.")
    return source.load()


#: Images up to this many pixels keep their sampled faces for the strength slider.
CACHE_MAX_PIXELS = 4_000_000
_kept = LastResult()


def clear_cache() -> None:
    _kept.clear()


def enhance_image(image: np.ndarray, *, identity: float = 0.5, seed: int = 0,
                  strength: float = 1.0, reference: np.ndarray | None = None,
                  progress: Progress | None = None) -> Masked:
    """Faces enhanced (full image, float32, same channels) and the faces' mask.
    ``reference``: dlib's (128,) vector of the person (None: each face's own)."""
    from editor.faces import faces_mask

    progress = progress or Progress()
    image = np.asarray(image)
    rgb, colour = split_rgb(image, "face enhance")
    ref_key = None if reference is None else np.asarray(reference, np.float32).tobytes()
    key = image_key(rgb, CACHE_MAX_PIXELS, round(float(identity), 4), int(seed), ref_key,
                    SLOT.current(), ID_SLOT.current(), PRIOR_SLOT.current())
    kept = _kept.get(key)
    if kept is None:
        faces = find_faces(rgb, progress.sub_progress(0.0, 0.15), reference is None)
        net = SLOT.current().load()
        id_net = ID_SLOT.current().load()
        prior = load_prior(net)
        restored = enhance_faces(rgb, faces, net, id_net, identity, seed, reference,
                                 progress.sub_progress(0.15, 0.98), prior)
        mask = faces_mask(faces, rgb.shape[:2], ["face"])
        _kept.put(key, restored, mask)
    else:
        restored, mask = kept
    result = rgb + np.float32(strength) * (restored - rgb)
    np.clip(result, 0.0, 1.0, out=result)
    progress.set_progress(1.0)
    return Masked(merge_rgb(image, result, colour), np.ascontiguousarray(mask, np.float32))


def face_enhance(image: np.ndarray, params: dict, progress: Progress) -> Masked:
    from editor.tools.face_reference import reference_embedding

    reference = None
    if params["reference"]:
        reference = reference_embedding(params["reference"], params["reference_face"])
    return enhance_image(image, identity=params["identity"], seed=params["seed"],
                         strength=params["strength"], reference=reference, progress=progress)


TOOL = Tool(
    id="face-enhance",
    label="Face enhance",
    icon="mdi6.face-recognition",
    help="Restore small or badly degraded faces with a face-recognition-guided diffusion "
         "model, toward the identity of a reference photo of the same person. Each result "
         "is one sample: use Sample again for another. Lands as a layer masked to the faces.",
    params=(
        Param("identity", float, 0.5, range=(0.0, 1.0), step=0.05,
              label="Identity ↔ content",
              help="0 = follow this photo's content (the result stays consistent with the "
                   "small face), 1 = follow the reference person's identity"),
        Param("seed", int, 0, range=(0, 99999), label="Seed",
              help="Which sample of the diffusion model (Sample again picks a new one)"),
        Param("strength", float, 1.0, range=(0.0, 1.0), step=0.05, label="Strength",
              help="How much of the enhanced face is applied (0 = unchanged)"),
        Param("reference", "path", "", label="Reference photo",
              help="A clear photo of the same person (none: each face's own identity)"),
        Param("reference_face", int, 0, range=(0, 20), label="Reference face",
              help="Which face of the reference photo is the person, counted left to "
                   "right (0 = the photo has only one)"),
    ),
    run=face_enhance,
    preview="reduced",
    output_suffix="_enhanced",
    model_ids=(MODEL_ID, ID_MODEL_ID, PRIOR_MODEL_ID),
)

__all__ = ["NoFaceFound", "TOOL", "clear_cache", "enhance_image", "set_face_finder"]
