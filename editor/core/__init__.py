"""Pure-numpy core: documents, layers, masks, blending, history diffs, image I/O.

Pixel contract used everywhere outside the engine: ``float32`` arrays, shape ``(H, W, C)``,
channels in **RGB** (or RGBA) order, values in ``[0, 1]``, alpha *not* premultiplied.
"""
