"""Rendering: numpy arrays in, uint8 RGBA images out. No TensorFlow, no widgets."""

from .colormaps import apply_colormap, colorbar, normalize
from .compose import blend, grayscale_to_rgba, image_to_rgba, outline_box, resize_rgba, upscale_nearest
from .panels import bar_chart_rgba, stack_panels, text_rgba
from .png import decode_image, encode_png, encode_png_fast, save_png
from .tiles import grid_shape, tile_at, tile_grid

__all__ = [
    "apply_colormap",
    "colorbar",
    "normalize",
    "blend",
    "grayscale_to_rgba",
    "image_to_rgba",
    "outline_box",
    "resize_rgba",
    "upscale_nearest",
    "decode_image",
    "encode_png",
    "encode_png_fast",
    "save_png",
    "bar_chart_rgba",
    "stack_panels",
    "text_rgba",
    "grid_shape",
    "tile_at",
    "tile_grid",
]
