"""The catalogue of explanation methods: specs, their parameters, registration.

A method is a function ``compute(inspector, request) -> (N, h, w) maps`` plus a
:class:`MethodSpec` saying what it is and which parameters it takes. Widgets
build their pickers and sliders from the specs; :meth:`Inspector.explain` is
the one entry point that looks a method up here, checks its parameters and
calls it. Nothing here imports TensorFlow.
"""

import difflib
import numbers
from dataclasses import dataclass

import numpy as np

from ...errors import InvalidParameterError, UnknownMethodError

__all__ = ["ParamSpec", "MethodSpec", "FAMILIES", "register", "method", "methods", "get_method",
           "compute_function", "method_table_markdown"]

#: The method families, in the order the catalogue lists them.
FAMILIES = ("gradient", "cam", "perturbation")
_KINDS = ("float", "int", "choice", "bool")


@dataclass(frozen=True)
class ParamSpec:
    """One tunable parameter of a method: enough for a widget to build its control.

    Attributes
    ----------
    name : str
        Keyword accepted by :meth:`Inspector.explain`.
    label : str
        Short human label for a slider or dropdown.
    kind : {"float", "int", "choice", "bool"}
    default
        Value used when the caller gives none.
    min, max, step : float or int, optional
        Inclusive range and slider step (numbers only; ``None`` = unbounded).
    choices : tuple, optional
        Accepted values of a ``"choice"``.
    description : str
        One line for a tooltip.
    array_ok : bool
        A ``"choice"`` that also accepts an image array (e.g. a baseline
        image); widgets offer only the choices.
    """

    name: str
    label: str
    kind: str
    default: object
    min: object = None
    max: object = None
    step: object = None
    choices: tuple = ()
    description: str = ""
    array_ok: bool = False

    def __post_init__(self):
        if self.kind not in _KINDS:
            raise ValueError(f"ParamSpec kind must be one of {_KINDS}, got {self.kind!r}")

    def validate(self, value):
        """Return ``value`` coerced to this parameter's type, or raise InvalidParameterError."""
        if self.kind == "bool":
            if isinstance(value, (bool, np.bool_)):
                return bool(value)
            raise InvalidParameterError(f"{self.name} must be True or False, got {value!r}")
        if self.kind == "choice":
            if self.array_ok and not isinstance(value, str) and np.ndim(value) >= 2:
                return np.asarray(value, dtype=np.float32)
            if isinstance(value, str) and value in self.choices:
                return value
            extra = " or an image array" if self.array_ok else ""
            raise InvalidParameterError(
                f"unknown {self.name} {value!r}; use one of {', '.join(repr(c) for c in self.choices)}{extra}"
            )
        numeric = numbers.Integral if self.kind == "int" else numbers.Real  # numpy scalars register as these
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numeric):
            what = "an integer" if self.kind == "int" else "a number"
            raise InvalidParameterError(f"{self.name} must be {what}, got {value!r}")
        value = int(value) if self.kind == "int" else float(value)
        if not np.isfinite(value):
            raise InvalidParameterError(f"{self.name} must be finite, got {value!r}")
        if self.min is not None and value < self.min:
            raise InvalidParameterError(f"{self.name} must be at least {self.min}, got {value}")
        if self.max is not None and value > self.max:
            raise InvalidParameterError(f"{self.name} must be at most {self.max}, got {value}")
        return value


@dataclass(frozen=True)
class MethodSpec:
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

    @property
    def defaults(self):
        """``{name: default}`` of every parameter."""
        return {p.name: p.default for p in self.params}

    def param(self, name):
        """The :class:`ParamSpec` called ``name``."""
        for spec in self.params:
            if spec.name == name:
                return spec
        raise InvalidParameterError(self._unknown_message(name))

    def bind(self, params):
        """Check ``params`` against the specs and fill in defaults.

        Raises
        ------
        InvalidParameterError
            A name the method does not take (the message lists the valid
            ones) or a value of the wrong type or out of range.
        """
        unknown = [name for name in params if name not in {p.name for p in self.params}]
        if unknown:
            raise InvalidParameterError(self._unknown_message(unknown[0]))
        return {p.name: p.validate(params[p.name]) if p.name in params else p.default for p in self.params}

    def _unknown_message(self, name):
        valid = ", ".join(p.name for p in self.params) or "none"
        return f"{self.label} ({self.name}) takes no parameter {name!r}; its parameters are: {valid}"


class _Catalogue:
    """Registered methods in registration order (one instance, filled at import)."""

    def __init__(self):
        self.specs = {}
        self.functions = {}

    def register(self, spec, compute):
        if not isinstance(spec, MethodSpec) or not callable(compute):
            raise TypeError("register(spec, compute) takes a MethodSpec and a callable")
        if spec.name in self.specs:
            raise ValueError(f"an explanation method named {spec.name!r} is already registered")
        self.specs[spec.name] = spec
        self.functions[spec.name] = compute
        return spec

    def get(self, name):
        spec = self.specs.get(name) if isinstance(name, str) else None
        if spec is None:
            names = list(self.specs)
            close = difflib.get_close_matches(str(name), names, n=2, cutoff=0.6)
            hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
            raise UnknownMethodError(
                f"unknown explanation method {name!r}{hint}; use one of: {', '.join(names)} "
                "(see cnnwidgets.methods())"
            )
        return spec


_CATALOGUE = _Catalogue()


def register(spec, compute):
    """Add a method to the catalogue: ``compute(inspector, request) -> (N, h, w)`` maps."""
    return _CATALOGUE.register(spec, compute)


def method(spec):
    """Decorator form of :func:`register`."""

    def decorate(compute):
        register(spec, compute)
        return compute

    return decorate


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
    return _CATALOGUE.functions[get_method(name).name]


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
