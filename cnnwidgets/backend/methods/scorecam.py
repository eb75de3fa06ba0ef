"""Score-CAM and Ablation-CAM: channel weights from forward passes, no gradients."""

import numpy as np

from ._common import top_channels, weighted_cam
from .catalogue import MethodSpec, ParamSpec, method

TOP_K = ParamSpec("top_k", "Top-k channels", "int", 0, min=0, max=4096, step=1,
                  description="use only the k channels with the highest mean activation (0: all channels)")


@method(MethodSpec(
    name="scorecam", label="Score-CAM", family="perturbation", needs_layer=True, params=(TOP_K,), long=True,
    description="Each feature map, upsampled and scaled to [0, 1], masks the input; its weight is the class "
                "probability of the masked input",
    paper="Wang et al. 2020, Score-CAM: Score-Weighted Visual Explanations for CNNs",
    url="https://arxiv.org/abs/1910.01279",
))
def scorecam(insp, request):
    """``relu(sum_k p_c(x * s(up(A_k))) A_k)``, ``s`` min-max scaling; masked copies batched.

    Masking multiplies the model input (after ``preprocess``): covered pixels
    go to 0 there (black for raw-pixel models, mid-grey for [-1, 1] inputs).
    """
    features = insp._layer_features(request.inputs, request.layer).astype(np.float64)
    chosen = [top_channels(f, request.params["top_k"]) for f in features]
    job = request.job(sum(len(c) for c in chosen))
    maps = []
    for i, channels in enumerate(chosen):
        weights = np.zeros(features.shape[-1])
        stack = np.moveaxis(features[i][..., channels], -1, 0).astype(np.float32)
        for rows in request.chunks(len(channels)):
            weights[channels[rows]] = insp._masked_scores(
                request.inputs[i], stack[rows], request.targets[i], kind="probability", rescale=True)
            job.advance(rows.stop - rows.start)
        maps.append(weighted_cam(features[i : i + 1], weights[None])[0])
    return np.stack(maps).astype(np.float32)


@method(MethodSpec(
    name="ablationcam", label="Ablation-CAM", family="perturbation", needs_layer=True, long=True,
    description="Each channel's weight is the relative drop of the class score when that channel is zeroed",
    paper="Desai & Ramaswamy 2020, Ablation-CAM: Visual Explanations for Deep Convolutional Network via "
          "Gradient-free Localization",
    url="https://openaccess.thecvf.com/content_WACV_2020/html/Desai_Ablation-CAM_Visual_Explanations_for_"
        "Deep_Convolutional_Network_via_Gradient-free_Localization_WACV_2020_paper.html",
))
def ablationcam(insp, request):
    """``relu(sum_k ((y_c - y_c^k) / y_c) A_k)``, ``y_c^k`` the logit with channel ``k`` set to 0."""
    features = insp._layer_features(request.inputs, request.layer).astype(np.float64)
    channels = features.shape[-1]
    job = request.job(len(features) * channels)
    maps = []
    for i in range(len(features)):
        # Row 0 keeps every channel (the unablated score); row r > 0 zeroes channel r - 1.
        keep = np.ones((channels + 1, channels), np.float32)
        keep[np.arange(1, channels + 1), np.arange(channels)] = 0.0
        scores = np.zeros(channels + 1)
        for rows in request.chunks(channels + 1):
            copies = np.repeat(request.inputs[i : i + 1], rows.stop - rows.start, axis=0)
            scores[rows] = insp._ablated_scores(copies, keep[rows], request.targets[i], request.layer)
            job.advance(rows.stop - rows.start - (rows.start == 0))
        base = scores[0]
        scale = base if abs(base) > 1e-7 else 1.0  # a zero score: fall back to the plain drop
        maps.append(weighted_cam(features[i : i + 1], ((base - scores[1:]) / scale)[None])[0])
    return np.stack(maps).astype(np.float32)
