"""PNG encoding and image decoding with Pillow."""

import io
import struct
import zlib

import numpy as np

__all__ = ["encode_png", "encode_png_fast", "save_png", "decode_image"]

#: Up to this many raw bytes (256x256 RGBA), :func:`encode_png_fast` stores
#: without compression: deflating a noisy 224x224 map costs more time than
#: sending its 200 KB over a local connection.
FAST_PNG_STORED_BYTES = 256 * 1024


def encode_png(rgba, compress_level=6):
    """uint8 ``(H, W, 4)`` RGBA, ``(H, W, 3)`` RGB or ``(H, W[, 1])`` grey array to PNG bytes.

    ``compress_level`` is zlib's 0-9 (Pillow's default 6). The widgets'
    canvases use :func:`encode_png_fast` instead.
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


def encode_png_fast(rgba):
    """uint8 ``(H, W, 4)`` RGBA to PNG bytes, as fast as possible, for the widgets' canvases.

    Lossless like any PNG, but written with no row filters and zlib level 0
    (stored) for images up to :data:`FAST_PNG_STORED_BYTES`, level 1 above.
    Pillow always runs its adaptive row filters, which cost several
    milliseconds on a 224x224 map: about a fifth of a MobileNetV2
    forward+backward pass on every class switch. Use :func:`encode_png` for
    files.
    """
    rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
    if rgba.ndim != 3 or rgba.shape[-1] != 4:
        raise ValueError(f"encode_png_fast takes uint8 (H, W, 4) RGBA, got shape {rgba.shape}")
    height, width = rgba.shape[:2]
    rows = np.empty((height, width * 4 + 1), np.uint8)
    rows[:, 0] = 0  # filter type "None" on every row
    rows[:, 1:] = rgba.reshape(height, width * 4)
    level = 0 if rgba.size <= FAST_PNG_STORED_BYTES else 1

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows.tobytes(), level))
        + chunk(b"IEND", b"")
    )


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
