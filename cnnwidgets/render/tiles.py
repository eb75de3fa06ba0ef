"""Lay many small images out as one grid, and find which tile a point hits."""

import math

import numpy as np

__all__ = ["grid_shape", "tile_grid", "tile_at"]


def grid_shape(count, columns=None, aspect=1.0):
    """``(rows, columns)`` for ``count`` tiles; columns default to a near-square grid."""
    if count <= 0:
        return 0, 0
    if columns is None:
        columns = max(1, int(math.ceil(math.sqrt(count * aspect))))
    columns = max(1, min(int(columns), count))
    return int(math.ceil(count / columns)), columns


def tile_grid(tiles, columns=None, gap=2, background=(255, 255, 255, 0)):
    """Arrange ``(N, h, w, 4)`` uint8 tiles in rows, with ``gap`` pixels between them.

    Returns
    -------
    numpy.ndarray
        uint8 ``(rows*h + (rows-1)*gap, cols*w + (cols-1)*gap, 4)``.
    """
    tiles = np.asarray(tiles, np.uint8)
    if tiles.ndim != 4 or tiles.shape[-1] != 4:
        raise ValueError(f"tiles must be (N, h, w, 4) uint8 RGBA, got shape {tiles.shape}")
    count, height, width = tiles.shape[:3]
    rows, cols = grid_shape(count, columns)
    out = np.empty((max(0, rows * (height + gap) - gap), max(0, cols * (width + gap) - gap), 4), np.uint8)
    out[...] = np.asarray(background, np.uint8)
    for i in range(count):
        r, c = divmod(i, cols)
        y, x = r * (height + gap), c * (width + gap)
        out[y : y + height, x : x + width] = tiles[i]
    return out


def tile_at(x, y, tile_size, columns, count, gap=2):
    """Index of the tile under pixel ``(x, y)`` of a :func:`tile_grid` image, or None.

    Parameters
    ----------
    x, y : float
        Pixel position in the grid image.
    tile_size : tuple of int
        ``(h, w)`` of one tile.
    columns, count : int
        Grid columns and number of tiles.
    gap : int
        Gap used to build the grid.
    """
    height, width = tile_size
    if x < 0 or y < 0:
        return None
    col, x_in = divmod(int(x), width + gap)
    row, y_in = divmod(int(y), height + gap)
    if x_in >= width or y_in >= height or col >= columns:
        return None
    index = row * columns + col
    return index if index < count else None
