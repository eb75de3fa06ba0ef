"""Numpy post-processing for gradient attributions and class activation maps."""

import numpy as np

__all__ = ["reduce_channels", "cam_from_gradients"]


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


def cam_from_gradients(features, gradients, plus_plus=False):
    """Combine feature maps and their gradients into a class activation map.

    Parameters
    ----------
    features : numpy.ndarray
        ``(h, w, k)`` activations ``A`` of the chosen layer.
    gradients : numpy.ndarray
        ``(h, w, k)`` gradients of the class score with respect to ``A``.
    plus_plus : bool
        False: Grad-CAM (Selvaraju et al. 2017), channel weights are the
        spatial mean of the gradients. True: Grad-CAM++ (Chattopadhay et al.
        2018) in its closed form for an exponential score, weights
        ``sum(alpha * relu(dS/dA))`` with
        ``alpha = g^2 / (2 g^2 + sum_ab(A) g^3)``.

    Returns
    -------
    numpy.ndarray
        ``(h, w)`` map, ``relu`` of the weighted sum of feature maps.
    """
    features = np.asarray(features, dtype=np.float64)
    gradients = np.asarray(gradients, dtype=np.float64)
    if plus_plus:
        g2 = gradients**2
        g3 = gradients**3
        denominator = 2.0 * g2 + features.sum(axis=(0, 1), keepdims=True) * g3
        alpha = np.divide(g2, denominator, out=np.zeros_like(g2), where=denominator != 0)
        weights = (alpha * np.maximum(gradients, 0.0)).sum(axis=(0, 1))
    else:
        weights = gradients.mean(axis=(0, 1))
    cam = np.maximum((features * weights).sum(axis=-1), 0.0)
    return cam.astype(np.float32)
