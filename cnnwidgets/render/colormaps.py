"""Scalar maps to colours, with matplotlib's maintained colormaps."""

import functools

import numpy as np

__all__ = ["normalize", "apply_colormap", "colorbar", "NORMALIZATIONS"]

#: Modes accepted by :func:`normalize`.
NORMALIZATIONS = ("minmax", "symmetric", "absolute")


def normalize(values, mode="minmax", vmin=None, vmax=None, percentile=100.0):
    """Scale values to [0, 1] for colouring.

    Parameters
    ----------
    values : array_like
        Any-shape float array.
    mode : {"minmax", "symmetric", "absolute"}
        ``minmax``: lowest value to 0, highest to 1. ``symmetric``: zero maps
        to 0.5 and the largest magnitude to 0 or 1 (for signed data such as
        weights and gradients, with a diverging colormap). ``absolute``:
        ``|values|`` from 0 to their maximum.
    vmin, vmax : float, optional
        Fixed ends instead of the data's (``vmax`` alone for ``symmetric``).
    percentile : float
        Ends taken at this percentile of the data (``100 - percentile`` for
        the low end) so a few extreme values do not wash out the rest.

    Returns
    -------
    numpy.ndarray
        float32 in [0, 1], same shape. With no spread between the ends
        (e.g. a constant input in ``minmax`` mode) everything maps to 0;
        all zeros map to 0.5 in ``symmetric`` mode. NaN stays NaN (shown transparent by
        :func:`apply_colormap`); infinities are ignored when finding the ends
        and clip to 0 or 1.
    """
    values = np.asarray(values, dtype=np.float32)
    if mode not in NORMALIZATIONS:
        raise ValueError(f"unknown normalization {mode!r}; use one of {', '.join(NORMALIZATIONS)}")
    finite = values[np.isfinite(values)]
    if mode == "absolute":
        values = np.abs(values)
        finite = np.abs(finite)
        mode, vmin = "minmax", 0.0 if vmin is None else vmin
    if mode == "symmetric":
        if vmax is None:
            vmax = float(np.percentile(np.abs(finite), percentile)) if finite.size else 0.0
        if vmax <= 0:
            return np.where(np.isnan(values), np.float32(np.nan), np.float32(0.5)).astype(np.float32)
        return np.clip(0.5 + 0.5 * values / vmax, 0.0, 1.0).astype(np.float32)
    if vmin is None:
        vmin = float(np.percentile(finite, 100.0 - percentile)) if finite.size else 0.0
    if vmax is None:
        vmax = float(np.percentile(finite, percentile)) if finite.size else 0.0
    if vmax <= vmin:
        return np.where(np.isnan(values), np.float32(np.nan), np.float32(0.0)).astype(np.float32)
    return np.clip((values - vmin) / (vmax - vmin), 0.0, 1.0).astype(np.float32)


@functools.lru_cache(maxsize=64)
def _lookup_table(cmap):
    from matplotlib import colormaps

    try:
        colormap = colormaps[cmap]
    except KeyError:
        raise ValueError(f"unknown colormap {cmap!r}; use a matplotlib colormap name such as 'viridis'") from None
    table = (colormap(np.linspace(0.0, 1.0, 256)) * 255 + 0.5).astype(np.uint8)
    table.flags.writeable = False  # cached and shared between calls
    return table


def apply_colormap(unit_values, cmap="viridis", alpha=255):
    """Colour values in [0, 1] with a matplotlib colormap.

    Parameters
    ----------
    unit_values : array_like
        Values already scaled to [0, 1] (see :func:`normalize`); values
        outside are clipped, NaN and infinities are transparent.
    cmap : str
        A matplotlib colormap name.
    alpha : int or array_like
        Opacity 0-255 (rounded and clipped), a scalar or an array
        broadcastable to the values.

    Returns
    -------
    numpy.ndarray
        uint8 ``(..., 4)`` RGBA.
    """
    unit_values = np.asarray(unit_values, dtype=np.float32)
    table = _lookup_table(cmap)
    nan = ~np.isfinite(unit_values)
    index = np.clip(np.nan_to_num(unit_values) * 255 + 0.5, 0, 255).astype(np.uint8)
    rgba = np.take(table, index, axis=0)  # much faster than fancy indexing
    alpha = np.clip(np.rint(np.asarray(alpha, dtype=np.float32)), 0, 255).astype(np.uint8)
    rgba[..., 3] = np.broadcast_to(alpha, unit_values.shape)
    rgba[nan, 3] = 0
    return rgba


def colorbar(cmap="viridis", length=256, thickness=12, horizontal=True):
    """A colour legend strip, low to high (left to right, or bottom to top)."""
    ramp = np.linspace(0.0, 1.0, length, dtype=np.float32)
    if horizontal:
        return apply_colormap(np.broadcast_to(ramp[None, :], (thickness, length)), cmap)
    return apply_colormap(np.broadcast_to(ramp[::-1, None], (length, thickness)), cmap)
