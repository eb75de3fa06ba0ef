"""Class activation maps from a layer's features ``A`` and gradients ``G``.

Each variant below is only its combination rule; :func:`cam_method` runs the
model (one tape pass per batch of images) and hands over float64
``(N, h, w, k)`` arrays. Every map is ``relu``-ed and left unnormalised.
"""

import numpy as np

from ._common import cam_method, weighted_cam
from .catalogue import MethodSpec


@cam_method(MethodSpec(
    name="gradcam", label="Grad-CAM", family="cam", needs_layer=True,
    description="Feature maps weighted by the spatial mean of their gradients",
    paper="Selvaraju et al. 2017, Grad-CAM: Visual Explanations from Deep Networks",
    url="https://arxiv.org/abs/1610.02391",
))
def gradcam(features, gradients, params):
    """``relu(sum_k mean_ij(G_k) A_k)``."""
    return weighted_cam(features, gradients.mean(axis=(1, 2)))


@cam_method(MethodSpec(
    name="gradcam_plus_plus", label="Grad-CAM++", family="cam", needs_layer=True,
    description="Grad-CAM with pixel-wise weights on positive gradients (closed form, exponential score)",
    paper="Chattopadhay et al. 2018, Grad-CAM++",
    url="https://arxiv.org/abs/1710.11063",
))
def gradcam_plus_plus(features, gradients, params):
    """Weights ``sum_ij alpha_ij relu(G_ij)``, ``alpha = G^2 / (2 G^2 + sum_ab(A) G^3)``."""
    g2 = gradients**2
    denominator = 2.0 * g2 + features.sum(axis=(1, 2), keepdims=True) * gradients**3
    alpha = np.divide(g2, denominator, out=np.zeros_like(g2), where=denominator != 0)
    return weighted_cam(features, (alpha * np.maximum(gradients, 0.0)).sum(axis=(1, 2)))


@cam_method(MethodSpec(
    name="hirescam", label="HiResCAM", family="cam", needs_layer=True,
    description="Gradients times feature maps position by position, summed over channels (no averaging)",
    paper="Draelos & Carin 2020, Use HiResCAM instead of Grad-CAM for faithful explanations",
    url="https://arxiv.org/abs/2011.08891",
))
def hirescam(features, gradients, params):
    """``relu(sum_k G_k * A_k)``; equals Grad-CAM when the head is global average pooling then Dense."""
    return np.maximum((gradients * features).sum(axis=-1), 0.0)


@cam_method(MethodSpec(
    name="xgradcam", label="XGrad-CAM", family="cam", needs_layer=True,
    description="Feature maps weighted by their activation-normalised gradient sums (axiom-based)",
    paper="Fu et al. 2020, Axiom-based Grad-CAM",
    url="https://arxiv.org/abs/2008.02312",
))
def xgradcam(features, gradients, params):
    """Weights ``sum_ij (A_k,ij / sum_ab A_k,ab) G_k,ij``."""
    totals = features.sum(axis=(1, 2))
    weighted = (gradients * features).sum(axis=(1, 2))
    weights = np.divide(weighted, totals, out=np.zeros_like(weighted), where=np.abs(totals) > 1e-12)
    return weighted_cam(features, weights)


@cam_method(MethodSpec(
    name="layercam", label="LayerCAM", family="cam", needs_layer=True,
    description="Feature maps weighted position by position by their positive gradients; good on early layers",
    paper="Jiang et al. 2021, LayerCAM: Exploring Hierarchical Class Activation Maps",
    url="https://doi.org/10.1109/TIP.2021.3089943",
))
def layercam(features, gradients, params):
    """``relu(sum_k relu(G_k) * A_k)``."""
    return np.maximum((np.maximum(gradients, 0.0) * features).sum(axis=-1), 0.0)


@cam_method(MethodSpec(
    name="eigencam", label="Eigen-CAM", family="cam", needs_layer=True,
    description="Projection of the feature maps on their first principal direction (class-agnostic, "
                "no gradients)",
    paper="Muhammad & Yeasin 2020, Eigen-CAM: Class Activation Map using Principal Components",
    url="https://arxiv.org/abs/2008.00299",
), gradients=False)
def eigencam(features, gradients, params):
    """``A v_1`` with ``v_1`` the first right singular vector of ``A`` as ``(hw, k)``, sign made positive.

    Computed from the smaller Gram matrix: ``A v_1 = sigma_1 u_1``, where
    ``u_1`` is the top eigenvector of ``A A^T`` (``hw x hw``), or ``A v_1``
    with ``v_1`` the top eigenvector of ``A^T A`` (``k x k``), whichever is
    smaller: a 7x7x1280 layer needs a 49x49 eigenproblem, not an SVD. The
    batch of eigenproblems is solved by TensorFlow's ``eigh`` (Eigen, one
    thread for small matrices): numpy's threaded LAPACK took 10-50 ms for
    one 49x49 matrix on a busy 2-core machine.
    """
    import tensorflow as tf

    count, height, width, channels = features.shape
    flat = features.reshape(count, height * width, channels)
    by_position = height * width <= channels
    grams = flat @ flat.transpose(0, 2, 1) if by_position else flat.transpose(0, 2, 1) @ flat
    values, vectors = (t.numpy() for t in tf.linalg.eigh(grams))
    if by_position:
        projections = np.sqrt(np.maximum(values[:, -1:], 0.0)) * vectors[:, :, -1]
    else:
        projections = np.einsum("npk,nk->np", flat, vectors[:, :, -1])
    # A singular vector's sign is arbitrary: make each map mostly positive.
    projections *= np.where(projections.sum(axis=1, keepdims=True) < 0, -1.0, 1.0)
    return np.maximum(projections, 0.0).reshape(count, height, width)
