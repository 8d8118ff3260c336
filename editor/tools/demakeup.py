"""Remove makeup / retouch: undo beautification and makeup on every detected face with
Makeup-Go's Component Regression Network (:mod:`editor.nets.crn`; model ``makeup-go``).

Per face: detect (68 landmarks) → align to the network's canonical face frame (a
similarity transform; the frame is UTKFace's aligned crops, which it was trained on) →
network → paste back only the CHANGE, feathered, through the exact inverse transform (not
colour-matched: undoing whitening or a tint is a tone change the paste-back must keep).
The result is the whole image with every face restored; the chosen region of the faces
(whole face, skin, lips, eyes…) is its mask, so in the editor it lands as a new layer
whose layer mask the retoucher can refine with the brush, and from the command line the
mask is composited.

``strength`` (0–1) blends the predicted change. The faces and network result of the last
image (up to :data:`CACHE_MAX_PIXELS`, i.e. previews) are kept, so dragging only the
strength or region re-blends without detecting or running the network again.

Faces whose size is below :data:`MIN_FACE_PX` are reported as too small; an image with no
usable face raises :class:`NoFaceFound` (a ValueError: the CLI skips the file with that
line, the GUI shows it and changes nothing).
"""

from __future__ import annotations

import numpy as np

from editor.engine.progress import Progress
from editor.tools.face_common import (FaceFinder, LastResult, NoFaceFound, image_key,
                                      merge_rgb, split_rgb)
from editor.tools.model_slot import ModelSlot
from editor.tools.schema import Masked, Param, Tool

MODEL_ID = "makeup-go"
#: Pixels across the canonical face frame the network was trained at (UTKFace 200 → 128).
FRAME_PX = 128
#: Margin around the face frame in the aligned crop (fraction of the frame on each side),
#: so the feathered paste-back fades out before the crop's edge.
PADDING = 0.25
#: Smallest face (eye distance × 2.5, in px) that is processed.
MIN_FACE_PX = 24

REGION_CHOICES = (
    ("face", "Whole face"),
    ("skin", "Skin"),
    ("lips", "Lips"),
    ("eyes", "Eyes"),
    ("brows", "Brows"),
)

SLOT = ModelSlot(MODEL_ID, "makeup-removal model")


def crop_size() -> int:
    return int(round(FRAME_PX * (1 + 2 * PADDING)))


def run_network(model, crop: np.ndarray) -> np.ndarray:
    """The network on one aligned RGB crop (HxWx3 float32 [0, 1]) -> restored crop."""
    import torch

    try:
        device = next(model.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
    x = torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1))[None]).to(device)
    with torch.inference_mode():
        out = model(x)
    if isinstance(out, dict):  # the CRN also returns its component maps
        out = out["output"]
    elif isinstance(out, (tuple, list)):
        out = out[0]
    return out[0].clamp(0, 1).permute(1, 2, 0).float().cpu().numpy()


def _rgb(image: np.ndarray) -> tuple[np.ndarray, int]:
    """-> (RGB HxWx3 float32, colour channel count of the input)."""
    return split_rgb(image, "demakeup")


#: Finds the faces: usable ones, or NoFaceFound with a message a retoucher understands
#: (tests set a stand-in with ``set_face_finder``, for images without real faces).
find_faces = FaceFinder(MIN_FACE_PX, "to work on")
set_face_finder = find_faces.set


def paste_face(photo: np.ndarray, crop: np.ndarray, edited: np.ndarray, matrix: np.ndarray,
               out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``photo`` with one aligned crop's change pasted back as the tool does it (into
    ``out`` when given) -> (result, the paste mask in crop coordinates). The mask's edge
    follows the least visible loop around the face (:mod:`editor.faces.seam_mask`), not
    across the jaw or the hair, judged on ``photo`` (a face pasted before is part of what
    the seam meets)."""
    from editor.faces import paste_back
    from editor.faces.seam_mask import least_visible_mask_in_photo

    mask = least_visible_mask_in_photo(photo, crop, edited, matrix)
    # No colour matching: undoing whitening or a tint IS a tone change, and refitting the
    # edit's colours to the photo's in the mask's ring cancelled most of it (on 100 val
    # faces: 31.24 dB without it, 30.18 with it, input 29.87; the seams stay within
    # target without it, see bench faces).
    result = paste_back(photo, crop, edited, matrix, mask_crop=mask, colour_match=False,
                        out=out)
    return result, mask


def restore_faces(rgb: np.ndarray, faces, model, progress: Progress) -> np.ndarray:
    """``rgb`` with every face replaced by the network's result at full strength, each
    pasted back by :func:`paste_face`."""
    from editor.faces import align_face

    out = rgb.copy()
    for i, face in enumerate(faces):
        progress.set_progress(i / len(faces), f"Face {i + 1} of {len(faces)}")
        crop, matrix = align_face(rgb, face, size=crop_size(), padding=PADDING)
        paste_face(out, crop, run_network(model, crop), matrix, out=out)
    progress.set_progress(1.0)
    return out


#: Images up to this many pixels (previews, portraits) keep their result for the sliders;
#: a full photo's would pin a second full-size float copy for a slider it rarely gets.
CACHE_MAX_PIXELS = 4_000_000


def _key(rgb: np.ndarray) -> tuple | None:
    return image_key(rgb, CACHE_MAX_PIXELS, SLOT.current())


#: The last image's faces and network result (thread-safe).
_kept = LastResult()


def clear_cache() -> None:
    _kept.clear()


def demakeup_image(image: np.ndarray, *, strength: float = 1.0, region: str = "face",
                   progress: Progress | None = None) -> Masked:
    """Faces restored (full image, float32, same channels) and the chosen region's mask."""
    from editor.faces import faces_mask

    progress = progress or Progress()
    image = np.asarray(image)
    rgb, colour = _rgb(image)
    key = _key(rgb)
    kept = _kept.get(key)
    if kept is None:
        faces = find_faces(rgb, progress.sub_progress(0.0, 0.3))
        model = SLOT.current().load()
        restored = restore_faces(rgb, faces, model, progress.sub_progress(0.3, 0.95))
        _kept.put(key, restored, faces)
    else:
        restored, faces = kept
    result = rgb + np.float32(strength) * (restored - rgb)
    np.clip(result, 0.0, 1.0, out=result)
    out = merge_rgb(image, result, colour)
    mask = faces_mask(faces, rgb.shape[:2], [region])
    progress.set_progress(1.0)
    return Masked(out, mask)


def demakeup(image: np.ndarray, params: dict, progress: Progress) -> Masked:
    return demakeup_image(image, strength=params["strength"], region=params["region"],
                          progress=progress)


TOOL = Tool(
    id="demakeup",
    label="Remove makeup",
    icon="mdi6.face-woman-shimmer-outline",
    help="Undo makeup and beautification (skin smoothing, whitening, blush, lip tint) on "
         "every detected face with Makeup-Go's component regression network. The result "
         "lands as a new layer masked to the chosen face region.",
    params=(
        Param("strength", float, 1.0, range=(0.0, 1.0), step=0.05, label="Strength",
              help="How much of the network's change is applied (0 = unchanged)"),
        Param("region", "choice", "face", choices=REGION_CHOICES, label="Region",
              help="Where on each face the change applies (refine the layer mask with "
                   "the brush afterwards)"),
    ),
    run=demakeup,
    preview="reduced",
    output_suffix="_demakeup",
    model_ids=(MODEL_ID,),
)

__all__ = ["NoFaceFound", "TOOL", "clear_cache", "demakeup_image", "find_faces",
           "restore_faces", "run_network", "set_face_finder"]
