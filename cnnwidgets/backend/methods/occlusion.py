"""Occlusion sensitivity as a catalogue method (over :meth:`Inspector.occlusion_map`)."""

import numpy as np

from ..occlusion import FILLS
from .catalogue import MethodSpec, ParamSpec, method


@method(MethodSpec(
    name="occlusion", label="Occlusion", family="perturbation", needs_layer=False,
    params=(
        ParamSpec("patch", "Patch", "int", 0, min=0, max=512, step=1,
                  description="side of the square in pixels (0: a sixth of the shorter image side)"),
        ParamSpec("stride", "Stride", "int", 0, min=0, max=512, step=1,
                  description="step between positions in pixels (0: half the patch)"),
        ParamSpec("fill", "Fill", "choice", "gray", choices=FILLS, description="what covers the patch"),
    ),
    long=True,
    description="Drop of the class probability when a sliding square covers each pixel",
    paper="Zeiler & Fergus 2014, Visualizing and Understanding Convolutional Networks",
    url="https://arxiv.org/abs/1311.2901",
))
def occlusion(insp, request):
    """Mean probability drop over the patch positions covering each pixel."""
    params = request.params
    single = len(request.inputs) == 1  # one image: its positions are the progress steps
    job = None if single else request.job(len(request.inputs))
    maps = []
    for display, target in zip(request.displays, request.targets):
        maps.append(insp.occlusion_map(
            display, target, patch=params["patch"] or None, stride=params["stride"] or None,
            fill=params["fill"], batch_size=max(request.batch_size, 1),
            progress=request.progress if single else None, cancel=request.cancel))
        if job is not None:
            job.advance(1)
    return np.stack(maps)
