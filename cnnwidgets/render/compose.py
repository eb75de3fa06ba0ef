"""Turn images into RGBA, scale them, and lay colours over them."""

import numpy as np

__all__ = [
    "image_to_rgba",
    "grayscale_to_rgba",
    "upscale_nearest",
    "resize_rgba",
    "blend",
    "outline_box",
]


def grayscale_to_rgba(unit_values):
    """``(H, W)`` values in [0, 1] to opaque grey uint8 RGBA (NaN is black)."""
    grey = np.clip(np.nan_to_num(np.asarray(unit_values, np.float32)) * 255 + 0.5, 0, 255).astype(np.uint8)
    rgba = np.empty(grey.shape + (4,), np.uint8)
    rgba[..., :3] = grey[..., None]
    rgba[..., 3] = 255
    return rgba


def image_to_rgba(image, value_range=(0.0, 255.0), rescale=False):
    """A display image to uint8 RGBA.

    Parameters
    ----------
    image : array_like
        ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)``.
    value_range : tuple of float
        Pixel values mapped to 0 and 255.
    rescale : bool
        Stretch the image's own (finite) min..max to 0..255 instead (for
        synthesized or preprocessed images). Only the colour channels are
        stretched; an alpha channel is still mapped with ``value_range``.

    Returns
    -------
    numpy.ndarray
        uint8 ``(H, W, 4)``; opaque unless the input had an alpha channel.
        NaN pixels become 0.
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (3, 4)):
        raise ValueError(f"cannot show an image of shape {image.shape}; expected (H, W), (H, W, 1|3|4)")
    values = image.astype(np.float32)
    if values.ndim == 2:
        values = np.repeat(values[..., None], 3, axis=-1)

    def to_uint8(channels, low, high):
        scale = 255.0 / (high - low) if high > low else 0.0
        return np.clip(np.nan_to_num((channels - low) * scale) + 0.5, 0, 255).astype(np.uint8)

    fixed_low, fixed_high = (float(v) for v in value_range)
    colour = values[..., :3]
    if rescale:
        finite = colour[np.isfinite(colour)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    else:
        low, high = fixed_low, fixed_high
    out = np.empty(values.shape[:2] + (4,), np.uint8)
    out[..., :3] = to_uint8(colour, low, high)
    out[..., 3] = to_uint8(values[..., 3], fixed_low, fixed_high) if values.shape[-1] == 4 else 255
    return out


def upscale_nearest(rgba, factor):
    """Enlarge by an integer factor with crisp (nearest-neighbour) pixels."""
    factor = int(factor)
    if factor <= 1:
        return np.asarray(rgba)
    return np.repeat(np.repeat(rgba, factor, axis=0), factor, axis=1)


def resize_rgba(rgba, size, smooth=True):
    """Resize uint8 ``(H, W, 4)`` RGBA to ``size = (height, width)`` with Pillow.

    ``smooth`` picks bilinear (Pillow weights colours by alpha) or nearest-neighbour.
    """
    from PIL import Image

    rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
    if rgba.ndim != 3 or rgba.shape[-1] != 4:
        raise ValueError(f"resize_rgba needs (H, W, 4) RGBA, got shape {rgba.shape}")
    height, width = (int(v) for v in size)
    if height < 1 or width < 1:
        raise ValueError(f"cannot resize to {height}x{width}; both sides must be at least 1 pixel")
    if rgba.shape[:2] == (height, width):
        return rgba
    resample = Image.BILINEAR if smooth else Image.NEAREST
    return np.asarray(Image.fromarray(rgba, "RGBA").resize((width, height), resample))


def blend(base, overlay, opacity=0.5):
    """Alpha-composite ``overlay`` onto ``base`` (both uint8 RGBA, same size).

    Porter-Duff "over" with straight (not premultiplied) alpha. ``opacity``
    scales the overlay's own alpha; the result is opaque where ``base`` is.
    """
    base = np.asarray(base, np.float32)
    overlay = np.asarray(overlay, np.float32)
    if base.shape != overlay.shape or base.ndim < 1 or base.shape[-1] != 4:
        raise ValueError(f"cannot blend images of shapes {base.shape} and {overlay.shape}; "
                         "both must be RGBA (..., 4) of the same size")
    top = overlay[..., 3:4] / 255.0 * float(np.clip(opacity, 0.0, 1.0))
    below = base[..., 3:4] / 255.0 * (1.0 - top)
    alpha = top + below
    safe = np.where(alpha > 0, alpha, 1.0)
    rgb = np.where(alpha > 0, (overlay[..., :3] * top + base[..., :3] * below) / safe, base[..., :3])
    out = np.empty(base.shape, np.uint8)
    out[..., :3] = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
    out[..., 3] = np.clip(alpha[..., 0] * 255 + 0.5, 0, 255).astype(np.uint8)
    return out


def outline_box(rgba, box, color=(255, 64, 64, 255), width=1):
    """Draw the outline of ``box = (y0, x0, y1, x1)`` (end-exclusive) on a copy.

    The box is first clipped to the image, so a box that overhangs an edge is
    outlined along that edge. ``color`` may be RGB (made opaque) or RGBA;
    ``width`` is the line width in pixels, drawn inside the box.
    """
    out = np.array(rgba, copy=True)
    height, width_px = out.shape[:2]
    y0, x0, y1, x1 = (int(v) for v in box)
    y0, x0 = max(0, y0), max(0, x0)
    y1, x1 = min(height, y1), min(width_px, x1)
    if y1 <= y0 or x1 <= x0:
        return out
    color = np.asarray(color, np.uint8)
    if out.ndim == 3 and out.shape[-1] == 4 and color.shape == (3,):
        color = np.append(color, np.uint8(255))
    out[y0 : min(y1, y0 + width), x0:x1] = color
    out[max(y0, y1 - width) : y1, x0:x1] = color
    out[y0:y1, x0 : min(x1, x0 + width)] = color
    out[y0:y1, max(x0, x1 - width) : x1] = color
    return out
