"""The catalogue of explanation methods: specs, their parameters, registration.

A method is a function ``compute(inspector, request) -> (N, h, w) maps`` plus a
:class:`MethodSpec` saying what it is and which parameters it takes. Widgets
build their pickers and sliders from the specs; :meth:`Inspector.explain` is
the one entry point that looks a method up here, checks its parameters and
calls it. Nothing here imports TensorFlow.
"""

from dataclasses import dataclass

from ...errors import InvalidParameterError, UnknownMethodError
from ..catalogue import ParamSpec, Registry, TakesParams

__all__ = ["ParamSpec", "MethodSpec", "FAMILIES", "register", "method", "methods", "get_method",
           "compute_function", "method_table_markdown"]

#: The method families, in the order the catalogue lists them.
FAMILIES = ("gradient", "cam", "perturbation")


@dataclass(frozen=True)
class MethodSpec(TakesParams):
    """What the catalogue knows about one explanation method.

    Attributes
    ----------
    name : str
        Key for :meth:`Inspector.explain` (``"gradcam"``, ``"scorecam"``, ...).
    label : str
        Display name (``"Grad-CAM"``).
    family : {"gradient", "cam", "perturbation"}
        Input gradients, class activation maps from gradients at a layer, or
        maps from forward passes on perturbed inputs.
    needs_layer : bool
        The method explains a spatial layer (``layer=`` of ``explain``);
        without ``upsample`` its map is at that layer's resolution.
    params : tuple of ParamSpec
        The parameters a user tunes.
    long : bool
        Takes many forward or backward passes: it reports ``progress`` and
        stops on ``cancel``; a widget shows progress and Stop.
    description : str
        One line.
    paper : str
        Citation.
    url : str
        Where to read the paper.
    """

    name: str
    label: str
    family: str
    needs_layer: bool
    params: tuple = ()
    long: bool = False
    description: str = ""
    paper: str = ""
    url: str = ""

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"MethodSpec family must be one of {FAMILIES}, got {self.family!r}")


_CATALOGUE = Registry(MethodSpec, "explanation method", UnknownMethodError, "cnnwidgets.methods()")


def register(spec, compute):
    """Add a method to the catalogue: ``compute(inspector, request) -> (N, h, w)`` maps."""
    return _CATALOGUE.register(spec, compute)


def method(spec):
    """Decorator form of :func:`register`."""
    return _CATALOGUE.decorator(spec)


def methods(family=None):
    """The registered :class:`MethodSpec` objects, optionally of one family."""
    if family is not None and family not in FAMILIES:
        raise InvalidParameterError(f"unknown method family {family!r}; use one of {', '.join(FAMILIES)}")
    return tuple(s for s in _CATALOGUE.specs.values() if family is None or s.family == family)


def get_method(name):
    """The :class:`MethodSpec` called ``name``; :class:`UnknownMethodError` lists the valid names."""
    return _CATALOGUE.get(name)


def compute_function(name):
    """The function registered for method ``name`` (for :meth:`Inspector.explain`)."""
    return _CATALOGUE.function(name)


def method_table_markdown():
    """The README's method table (markdown), rendered from the catalogue.

    ``tests/test_backend_methods.py`` checks that README.md holds exactly this
    table; after adding a method, paste the new output between the README's
    ``methods-table`` markers.
    """
    rows = ["| method | `explain(..., method=)` | family | layer | long | parameters | paper |",
            "|---|---|---|---|---|---|---|"]
    for spec in methods():
        params = ", ".join(f"`{p.name}={p.default!r}`" for p in spec.params) or "-"
        paper = f"[{spec.paper}]({spec.url})" if spec.url else spec.paper
        layer = "yes" if spec.needs_layer else "-"
        long = "yes" if spec.long else "-"
        rows.append(f"| {spec.label} | `{spec.name}` | {spec.family} | {layer} | {long} | {params} | {paper} |")
    return "\n".join(rows)
