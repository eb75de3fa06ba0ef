"""PNG encoding and image decoding with Pillow."""

import io

import numpy as np

__all__ = ["encode_png", "save_png", "decode_image"]


def encode_png(rgba):
    """uint8 ``(H, W, 3|4)`` array to PNG bytes."""
    from PIL import Image

    rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
    mode = "RGBA" if rgba.shape[-1] == 4 else "RGB"
    buffer = io.BytesIO()
    Image.fromarray(rgba, mode).save(buffer, format="PNG")
    return buffer.getvalue()


def save_png(rgba, path):
    """Write a uint8 RGBA array to ``path`` as PNG and return the path."""
    with open(path, "wb") as handle:
        handle.write(encode_png(rgba))
    return path


def decode_image(data, size=None, channels=3):
    """Decode PNG/JPEG/... bytes into a uint8 ``(H, W, channels)`` array.

    Parameters
    ----------
    data : bytes
        The file's content.
    size : tuple of int, optional
        ``(height, width)`` to resize to (bilinear, Pillow), e.g. the model's input size.
    channels : {1, 3}
        Convert to grayscale (``L``) or RGB.

    Raises
    ------
    ValueError
        The bytes are not an image Pillow can read.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(bytes(data)))
        image.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"the file is not an image that can be read (PNG, JPEG, ...): {exc}") from None
    image = image.convert("L" if channels == 1 else "RGB")
    if size is not None and None not in size:
        image = image.resize((int(size[1]), int(size[0])), Image.BILINEAR)
    array = np.asarray(image, np.uint8)
    return array[..., None] if channels == 1 else array
