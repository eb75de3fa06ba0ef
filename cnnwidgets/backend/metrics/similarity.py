"""How alike two saliency maps are: Spearman rank correlation and SSIM (numpy + scipy).

The randomization sanity check (Adebayo et al. 2018) compares each map of the
cascade with the trained model's map by both. A constant map has no ranking,
so its rank correlation with anything is defined as 0 here (no signal).
"""

import numpy as np

__all__ = ["spearman", "ssim", "normalise"]


def spearman(a, b):
    """Spearman rank correlation of two maps (ties get their average rank); 0 if either is constant."""
    from scipy.stats import rankdata

    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"maps of different sizes: {a.size} and {b.size} values")
    ra, rb = rankdata(a) - (a.size + 1) / 2.0, rankdata(b) - (b.size + 1) / 2.0
    denominator = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / denominator) if denominator > 0 else 0.0


def normalise(values):
    """Scale a map to [0, 1] (min to max); a constant map becomes zeros."""
    values = np.asarray(values, np.float64)
    low, span = values.min(), np.ptp(values)
    return (values - low) / span if span > 0 else np.zeros_like(values)


def ssim(a, b, sigma=1.5):
    """Structural similarity (Wang et al. 2004) of two maps, each first scaled to [0, 1].

    Gaussian-weighted local statistics (std ``sigma`` pixels, window cut at
    3.5 std, reflected borders), the constants ``K1 = 0.01``, ``K2 = 0.03``
    for a data range of 1, and the mean over positions at least half a
    window from the border: the same numbers as scikit-image's
    ``structural_similarity(a, b, data_range=1, gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False)``.
    """
    from scipy.ndimage import gaussian_filter

    a, b = normalise(a), normalise(b)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"ssim takes two 2-D maps of one shape, got {a.shape} and {b.shape}")
    c1, c2 = 0.01**2, 0.03**2

    def smooth(values):
        return gaussian_filter(values, sigma=sigma, truncate=3.5, mode="reflect")

    mean_a, mean_b = smooth(a), smooth(b)
    var_a = smooth(a * a) - mean_a**2
    var_b = smooth(b * b) - mean_b**2
    cov = smooth(a * b) - mean_a * mean_b
    index = ((2 * mean_a * mean_b + c1) * (2 * cov + c2)) / ((mean_a**2 + mean_b**2 + c1) * (var_a + var_b + c2))
    pad = (2 * int(3.5 * sigma + 0.5) + 1 - 1) // 2
    inner = index[pad:-pad, pad:-pad] if min(a.shape) > 2 * pad else index
    return float(inner.mean())
