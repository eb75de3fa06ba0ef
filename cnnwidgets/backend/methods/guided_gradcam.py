"""Guided Grad-CAM: guided backpropagation times the upsampled Grad-CAM map."""

import numpy as np

from ..images import resize_map
from ._common import SIGNED, reduce_attributions
from .cam import gradcam
from .catalogue import MethodSpec, method


@method(MethodSpec(
    name="guided_gradcam", label="Guided Grad-CAM", family="cam", needs_layer=True, params=(SIGNED,),
    description="Guided backpropagation masked by the Grad-CAM map, at input resolution",
    paper="Selvaraju et al. 2017, Grad-CAM: Visual Explanations from Deep Networks",
    url="https://arxiv.org/abs/1610.02391",
))
def guided_gradcam(insp, request):
    """``guided_backprop(x) * upsample(gradcam)`` per colour channel, then reduced over channels."""
    maps = []
    height, width = request.inputs.shape[1:3]
    for rows in request.chunks():
        feats, grads = insp._layer_gradients(request.inputs[rows], request.targets[rows], request.layer)
        cams = gradcam(feats.astype(np.float64), grads.astype(np.float64), request.params)
        guided = insp._input_gradients(request.inputs[rows], request.targets[rows], guided=True)
        upsampled = np.stack([resize_map(c, (height, width)) for c in cams])
        maps.append(reduce_attributions(guided * upsampled[..., None], request.params["signed"]))
    return np.concatenate(maps)
