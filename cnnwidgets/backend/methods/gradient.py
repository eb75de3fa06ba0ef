"""Single-pass input-gradient methods: vanilla, gradient x input, guided backpropagation."""

import numpy as np

from ._common import SIGNED, reduce_attributions
from .catalogue import MethodSpec, method


def _gradients(insp, request, guided=False):
    return [insp._input_gradients(request.inputs[rows], request.targets[rows], guided=guided)
            for rows in request.chunks()]


@method(MethodSpec(
    name="vanilla", label="Vanilla gradient", family="gradient", needs_layer=False, params=(SIGNED,),
    description="Gradient of the class score with respect to each input pixel",
    paper="Simonyan, Vedaldi & Zisserman 2014, Deep Inside Convolutional Networks",
    url="https://arxiv.org/abs/1312.6034",
))
def vanilla(insp, request):
    """``dS_c/dx``, reduced over colour channels."""
    return np.concatenate([reduce_attributions(g, request.params["signed"]) for g in _gradients(insp, request)])


@method(MethodSpec(
    name="gradient_x_input", label="Gradient x input", family="gradient", needs_layer=False, params=(SIGNED,),
    description="Input gradient times the model input: a first-order contribution per pixel",
    paper="Shrikumar et al. 2016, Not Just a Black Box",
    url="https://arxiv.org/abs/1605.01713",
))
def gradient_x_input(insp, request):
    """``x * dS_c/dx`` in model-input space, reduced over colour channels."""
    grads = np.concatenate(_gradients(insp, request))
    return reduce_attributions(grads * request.inputs, request.params["signed"])


@method(MethodSpec(
    name="guided_backprop", label="Guided backpropagation", family="gradient", needs_layer=False,
    params=(SIGNED,),
    description="Input gradient where every ReLU passes back only positive gradients of positive inputs",
    paper="Springenberg et al. 2015, Striving for Simplicity: The All Convolutional Net",
    url="https://arxiv.org/abs/1412.6806",
))
def guided_backprop(insp, request):
    """Guided backpropagation (ReLU-family layers gated, see ``ModelGraph.execute``)."""
    grads = np.concatenate(_gradients(insp, request, guided=True))
    return reduce_attributions(grads, request.params["signed"])
