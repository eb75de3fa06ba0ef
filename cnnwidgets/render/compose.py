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
    """``(H, W)`` values in [0, 1] to opaque grey uint8 RGBA."""
    grey = np.clip(np.asarray(unit_values, np.float32) * 255 + 0.5, 0, 255).astype(np.uint8)
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
        Stretch the image's own min..max to 0..255 instead (for synthesized
        or preprocessed images).
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (3, 4)):
        raise ValueError(f"cannot show an image of shape {image.shape}; expected (H, W), (H, W, 1|3|4)")
    values = image.astype(np.float32)
    if rescale:
        low, high = float(values.min()), float(values.max())
    else:
        low, high = (float(v) for v in value_range)
    scale = 255.0 / (high - low) if high > low else 0.0
    scaled = np.clip((values - low) * scale + 0.5, 0, 255).astype(np.uint8)
    if scaled.ndim == 2:
        scaled = np.repeat(scaled[..., None], 3, axis=-1)
    if scaled.shape[-1] == 4:
        return scaled
    alpha = np.full(scaled.shape[:2] + (1,), 255, np.uint8)
    return np.concatenate([scaled, alpha], axis=-1)


def upscale_nearest(rgba, factor):
    """Enlarge by an integer factor with crisp (nearest-neighbour) pixels."""
    factor = int(factor)
    if factor <= 1:
        return np.asarray(rgba)
    return np.repeat(np.repeat(rgba, factor, axis=0), factor, axis=1)


def resize_rgba(rgba, size, smooth=True):
    """Resize uint8 RGBA to ``size = (height, width)`` with Pillow."""
    from PIL import Image

    rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
    if rgba.shape[:2] == tuple(size):
        return rgba
    resample = Image.BILINEAR if smooth else Image.NEAREST
    return np.asarray(Image.fromarray(rgba, "RGBA").resize((size[1], size[0]), resample))


def blend(base, overlay, opacity=0.5):
    """Alpha-composite ``overlay`` onto ``base`` (both uint8 RGBA, same size).

    ``opacity`` scales the overlay's own alpha; the result is opaque where
    ``base`` is.
    """
    base = np.asarray(base, np.float32)
    overlay = np.asarray(overlay, np.float32)
    if base.shape != overlay.shape:
        raise ValueError(f"cannot blend images of shapes {base.shape} and {overlay.shape}")
    weight = overlay[..., 3:4] / 255.0 * float(np.clip(opacity, 0.0, 1.0))
    rgb = base[..., :3] * (1 - weight) + overlay[..., :3] * weight
    out = np.empty(base.shape, np.uint8)
    out[..., :3] = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
    out[..., 3] = np.maximum(base[..., 3], overlay[..., 3] * weight[..., 0]).astype(np.uint8)
    return out


def outline_box(rgba, box, color=(255, 64, 64, 255), width=1):
    """Draw the outline of ``box = (y0, x0, y1, x1)`` (end-exclusive) on a copy."""
    out = np.array(rgba, copy=True)
    height, width_px = out.shape[:2]
    y0, x0, y1, x1 = (int(v) for v in box)
    y0, x0 = max(0, y0), max(0, x0)
    y1, x1 = min(height, y1), min(width_px, x1)
    if y1 <= y0 or x1 <= x0:
        return out
    color = np.asarray(color, np.uint8)
    out[y0 : min(y1, y0 + width), x0:x1] = color
    out[max(y0, y1 - width) : y1, x0:x1] = color
    out[y0:y1, x0 : min(x1, x0 + width)] = color
    out[y0:y1, max(x0, x1 - width) : x1] = color
    return out
