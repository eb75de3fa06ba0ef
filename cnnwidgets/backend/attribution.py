"""Numpy post-processing for gradient attributions (CAM rules live in ``methods/cam.py``)."""

import numpy as np

__all__ = ["reduce_channels"]


def reduce_channels(attribution, signed):
    """Reduce a per-channel attribution ``(H, W, C)`` to a map ``(H, W)``.

    Parameters
    ----------
    attribution : numpy.ndarray
        ``(H, W, C)`` attribution (gradient, gradient x input, ...).
    signed : bool
        If True, sum over channels and keep the sign. If False, take the
        largest absolute value over channels (Simonyan et al.'s convention).
    """
    if signed:
        return attribution.sum(axis=-1)
    magnitude = np.abs(attribution[..., 0])
    for channel in range(1, attribution.shape[-1]):  # faster than .max(axis=-1) on few channels
        np.maximum(magnitude, np.abs(attribution[..., channel]), out=magnitude)
    return magnitude
