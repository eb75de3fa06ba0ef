"""Validate and normalise input images (numpy only)."""

import hashlib

import numpy as np

from ..errors import InvalidImageError

__all__ = ["as_image", "image_key", "describe_shape"]


def describe_shape(shape):
    """Format a shape for error messages: ``(28, None, 1)`` -> ``'(28, any, 1)'``."""
    dims = tuple("any" if d is None else int(d) for d in shape)
    return "(" + ", ".join(str(d) for d in dims) + ")"


def as_image(image, input_shape):
    """Check one image against the model's input shape and return it as float32 (H, W, C).

    Parameters
    ----------
    image : array_like
        ``(H, W)``, ``(H, W, C)`` or ``(1, H, W, C)``; uint8 0-255 or float.
    input_shape : tuple
        The model's input shape without the batch axis, ``(H, W, C)``; ``None``
        entries accept any size.

    Returns
    -------
    numpy.ndarray
        float32 array of shape ``(H, W, C)``, values unchanged (not rescaled).

    Raises
    ------
    InvalidImageError
        Wrong rank, size or channel count, a non-numeric dtype, or NaN/inf pixels.
    """
    expected = describe_shape(input_shape)
    try:
        array = np.asarray(image)
    except Exception as exc:  # e.g. ragged lists
        raise InvalidImageError(
            f"could not read the image as an array ({exc}); pass a numpy array of shape {expected}"
        ) from None
    if array.dtype == bool or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        raise InvalidImageError(
            f"the image has dtype {array.dtype}; pass uint8 (0-255) or float pixels of shape {expected}"
        )
    if array.ndim == 4:
        if array.shape[0] != 1:
            raise InvalidImageError(
                f"got a batch of {array.shape[0]} images; these methods take one image of shape {expected} "
                "(or a batch of one)"
            )
        array = array[0]
    height, width, channels = input_shape
    if array.ndim == 2:
        if channels not in (None, 1):
            raise InvalidImageError(
                f"got a grayscale image of shape {array.shape}, but the model expects {channels} channels, "
                f"shape {expected}; convert it to colour first (e.g. np.repeat(img[..., None], {channels}, -1))"
            )
        array = array[:, :, None]
    if array.ndim != 3:
        raise InvalidImageError(
            f"the image has shape {array.shape}; the model expects one image of shape {expected}"
        )
    for axis, (got, want) in enumerate(zip(array.shape, (height, width, channels))):
        if want is not None and got != want:
            what = ("height", "width", "channel count")[axis]
            hint = "resize it" if axis < 2 else "convert its colour mode"
            raise InvalidImageError(
                f"the image's {what} is {got} but the model expects {want}: the image has shape "
                f"{array.shape}, the model expects {expected}; {hint} first"
            )
    array = array.astype(np.float32, copy=False)
    if not np.isfinite(array).all():
        bad = int(np.size(array) - np.isfinite(array).sum())
        raise InvalidImageError(
            f"the image has {bad} NaN or infinite pixel values; replace them (e.g. np.nan_to_num) first"
        )
    return array


def image_key(array):
    """Return a short content hash of an array (shape, dtype and bytes)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(str((array.shape, array.dtype.str)).encode())
    digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def gaussian_blur(image, sigma):
    """Blur an ``(H, W, C)`` float image with a Gaussian of std ``sigma`` pixels.

    Separable convolution with reflected borders; numpy only.
    """
    if sigma <= 0:
        return image.copy()
    radius = max(1, int(round(3 * sigma)))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    out = image.astype(np.float32)
    for axis in (0, 1):
        pad = [(0, 0)] * out.ndim
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, mode="reflect" if out.shape[axis] > radius else "edge")
        acc = np.zeros_like(out)
        length = out.shape[axis]
        for offset, weight in enumerate(taps):
            acc += weight * np.take(padded, np.arange(offset, offset + length), axis=axis)
        out = acc
    return out


def resize_map(values, size):
    """Bilinearly resize a 2-D float map to ``size = (height, width)``."""
    from PIL import Image

    values = np.asarray(values, dtype=np.float32)
    if values.shape == tuple(size):
        return values.copy()
    resized = Image.fromarray(values, mode="F").resize((size[1], size[0]), Image.BILINEAR)
    return np.array(resized, dtype=np.float32)  # a writable copy (asarray of PIL is read-only)
