"""PNG encoding and image decoding with Pillow."""

import io

import numpy as np

__all__ = ["encode_png", "save_png", "decode_image"]


def encode_png(rgba, compress_level=6):
    """uint8 ``(H, W, 4)`` RGBA, ``(H, W, 3)`` RGB or ``(H, W[, 1])`` grey array to PNG bytes.

    ``compress_level`` is zlib's 0-9 (Pillow's default 6); widgets use 1, which
    encodes several times faster for images sent once over a local connection.
    """
    from PIL import Image

    rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
    if rgba.ndim == 3 and rgba.shape[-1] == 1:
        rgba = rgba[..., 0]
    modes = {3: "RGB", 4: "RGBA"}
    if rgba.ndim == 2:
        mode = "L"
    elif rgba.ndim == 3 and rgba.shape[-1] in modes:
        mode = modes[rgba.shape[-1]]
    else:
        raise ValueError(f"cannot encode an image of shape {rgba.shape} as PNG; expected (H, W) or (H, W, 1|3|4)")
    buffer = io.BytesIO()
    Image.fromarray(rgba, mode).save(buffer, format="PNG", compress_level=int(compress_level))
    return buffer.getvalue()


def save_png(rgba, path):
    """Write a uint8 RGBA array to ``path`` as PNG and return the path."""
    with open(path, "wb") as handle:
        handle.write(encode_png(rgba))
    return path


def decode_image(data, size=None, channels=3):
    """Decode PNG/JPEG/... bytes into a uint8 ``(H, W, channels)`` array.

    The EXIF orientation (photos from phones) is applied, transparency is
    dropped, and 16-bit greyscale is scaled (not clipped) to 8 bits.

    Parameters
    ----------
    data : bytes
        The file's content (``bytes``, ``bytearray`` or ``memoryview``).
    size : tuple of int, optional
        ``(height, width)`` to resize to (bilinear, Pillow), e.g. the model's input size.
    channels : {1, 3}
        Convert to grayscale (``L``) or RGB.

    Raises
    ------
    ValueError
        The bytes are not an image Pillow can read, or ``channels`` is not 1 or 3.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels!r}")
    data = bytes(data)
    if not data:
        raise ValueError("the file is empty; expected an image (PNG, JPEG, ...)")
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
        image = ImageOps.exif_transpose(image)
    except UnidentifiedImageError:
        raise ValueError(
            f"the file ({len(data)} bytes) is not an image that can be read; expected PNG, JPEG, GIF, BMP, ..."
        ) from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ValueError(f"the image could not be decoded (damaged or unsupported file): {exc}") from None
    if image.mode.startswith("I;16") or image.mode == "I":
        # 16-bit greyscale: Pillow's convert("L") would clip at 255 instead of scaling.
        wide = np.asarray(image, np.float64)
        image = Image.fromarray(np.clip(wide / 257.0 + 0.5, 0, 255).astype(np.uint8), "L")
    image = image.convert("L" if channels == 1 else "RGB")
    if size is not None and None not in tuple(size):
        height, width = (int(v) for v in size)
        if height < 1 or width < 1:
            raise ValueError(f"cannot resize an image to {height}x{width}")
        if image.size != (width, height):
            image = image.resize((width, height), Image.BILINEAR)
    array = np.asarray(image, np.uint8)
    return array[..., None] if channels == 1 else array
