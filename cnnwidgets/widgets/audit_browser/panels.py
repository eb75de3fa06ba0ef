"""Pure numpy panels of the AuditBrowser: image tiles with their map, cluster rows, a selection mosaic.

Every function returns uint8 RGBA and, where the panel is clickable, the
boxes ``(y0, x0, y1, x1, image_index)`` of the image tiles in it.
"""

import numpy as np

from ...backend.audit.clustering import unit_mass
from ...render import apply_colormap, blend, image_to_rgba, normalize, resize_rgba, stack_panels, text_rgba

__all__ = ["map_tile", "image_tile", "cluster_row", "mosaic", "representatives", "WHITE"]

WHITE = (255, 255, 255, 255)


def map_tile(values, size, colormap="inferno"):
    """A map ``(h, w)`` as a ``size`` x ``size`` colour tile (crisp cells)."""
    rgba = apply_colormap(normalize(np.asarray(values, np.float32)), colormap)
    return resize_rgba(rgba, (size, size), smooth=False)


def image_tile(thumbnail, values, size, colormap="inferno", opacity=0.5):
    """A thumbnail with its map laid over it, ``size`` x ``size``."""
    base = resize_rgba(image_to_rgba(np.asarray(thumbnail, np.float32), (0.0, 255.0)), (size, size), smooth=False)
    if opacity <= 0:
        return base
    heat = resize_rgba(apply_colormap(normalize(np.asarray(values, np.float32)), colormap), (size, size))
    return blend(base, heat, opacity)


def representatives(maps, rows, mean_map):
    """``rows`` ordered by how close each map (unit mass) is to the cluster's mean map, closest first."""
    if not len(rows):
        return np.asarray(rows)
    distance = np.abs(unit_mass(maps) - np.asarray(mean_map, np.float64).reshape(1, -1)).sum(axis=1)
    return np.asarray(rows)[np.argsort(distance, kind="stable")]


def mosaic(result, rows, tile, columns, opacity=0.5, colormap="inferno", gap=2):
    """Tiles of ``rows`` in a grid: ``(rgba, boxes)``."""
    rows = list(rows)
    count = max(1, len(rows))
    lines = -(-count // columns)
    height, width = lines * (tile + gap) - gap, min(count, columns) * (tile + gap) - gap
    out = np.empty((max(height, tile), max(width, tile), 4), np.uint8)
    out[...] = WHITE
    boxes = []
    for i, row in enumerate(rows):
        y, x = (i // columns) * (tile + gap), (i % columns) * (tile + gap)
        out[y : y + tile, x : x + tile] = image_tile(result.thumbnails[row], result.maps[row], tile, colormap, opacity)
        boxes.append((y, x, y + tile, x + tile, int(row)))
    return out, boxes


def cluster_row(result, cluster, tile=40, count=12, opacity=0.5, colormap="inferno", label_width=150):
    """One cluster: its mean map, a caption and its most typical images: ``(rgba, boxes)``."""
    mean = map_tile(cluster.mean_map, tile * 2 + 2, colormap)
    caption = stack_panels(
        [text_rgba(f"cluster {cluster.rank + 1}", height=14),
         text_rgba(f"{cluster.size} images", height=12),
         text_rgba(f"distance {cluster.distance:.2f}", height=12)],
        axis=0, gap=2, background=WHITE,
    )
    members = representatives(np.asarray(result.maps[cluster.rows]), cluster.rows, cluster.mean_map)[:count]
    tiles, boxes = mosaic(result, members, tile, columns=-(-count // 2), opacity=opacity, colormap=colormap)
    left = stack_panels([mean, caption], axis=1, gap=6, background=WHITE)
    if left.shape[1] < label_width:
        pad = np.empty((left.shape[0], label_width - left.shape[1], 4), np.uint8)
        pad[...] = WHITE
        left = np.concatenate([left, pad], axis=1)
    offset = left.shape[1] + 8
    row = stack_panels([left, tiles], axis=1, gap=8, background=WHITE)
    return row, [(y0, x0 + offset, y1, x1 + offset, index) for y0, x0, y1, x1, index in boxes]
