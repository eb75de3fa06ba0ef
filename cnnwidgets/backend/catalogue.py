"""What the catalogues of explanation methods and of metrics share.

Each catalogue is a :class:`Registry` of frozen spec dataclasses (a name, a
label, a tuple of :class:`ParamSpec`) and one compute function per spec.
:class:`TakesParams` checks a caller's keyword arguments against a spec's
parameters and fills in the defaults. Nothing here imports TensorFlow.
"""

import difflib
import numbers
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidParameterError
from .images import image_key

__all__ = ["ParamSpec", "TakesParams", "Registry"]

_KINDS = ("float", "int", "choice", "bool")


@dataclass(frozen=True)
class ParamSpec:
    """One tunable parameter of a method or metric: enough for a widget to build its control.

    Attributes
    ----------
    name : str
        Keyword accepted by :meth:`Inspector.explain` / :meth:`Inspector.evaluate`.
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


class TakesParams:
    """Mixin of a frozen spec dataclass with ``name``, ``label`` and ``params`` (ParamSpecs)."""

    #: Word put before the label in messages ("metric "); empty for methods.
    _noun = ""

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
            A name the spec does not take (the message lists the valid ones)
            or a value of the wrong type or out of range.
        """
        names = {p.name for p in self.params}
        unknown = [name for name in params if name not in names]
        if unknown:
            raise InvalidParameterError(self._unknown_message(unknown[0]))
        return {p.name: p.validate(params[p.name]) if p.name in params else p.default for p in self.params}

    @staticmethod
    def params_key(bound):
        """Bound parameters (from :meth:`bind`) as a hashable cache-key part (arrays by content hash)."""
        return tuple(sorted((k, image_key(v) if isinstance(v, np.ndarray) else v) for k, v in bound.items()))

    def _unknown_message(self, name):
        valid = ", ".join(p.name for p in self.params) or "none"
        return f"{self._noun}{self.label} ({self.name}) takes no parameter {name!r}; its parameters are: {valid}"


class Registry:
    """Specs and their compute functions, in registration order.

    Parameters
    ----------
    spec_type : type
        The spec dataclass this registry holds.
    noun : str
        What an entry is, for messages ("explanation method", "metric").
    unknown_error : type
        The :class:`~cnnwidgets.CNNWidgetsError` raised for an unknown name.
    listing : str
        The call that lists the entries, named in that error's message.
    """

    def __init__(self, spec_type, noun, unknown_error, listing):
        self.spec_type, self.noun, self.unknown_error, self.listing = spec_type, noun, unknown_error, listing
        self.specs = {}
        self.functions = {}

    def register(self, spec, compute):
        """Add ``spec`` with its ``compute`` function; returns the spec."""
        if not isinstance(spec, self.spec_type) or not callable(compute):
            raise TypeError(f"register(spec, compute) takes a {self.spec_type.__name__} and a callable")
        if spec.name in self.specs:
            raise ValueError(f"{self.noun} {spec.name!r} is already registered")
        self.specs[spec.name] = spec
        self.functions[spec.name] = compute
        return spec

    def decorator(self, spec):
        """``@registry.decorator(spec)`` over a compute function registers it."""

        def decorate(compute):
            self.register(spec, compute)
            return compute

        return decorate

    def get(self, name):
        """The spec called ``name``; the registry's error lists the valid names."""
        spec = self.specs.get(name) if isinstance(name, str) else None
        if spec is None:
            names = list(self.specs)
            close = difflib.get_close_matches(str(name), names, n=2, cutoff=0.6)
            hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
            raise self.unknown_error(
                f"unknown {self.noun} {name!r}{hint}; use one of: {', '.join(names)} (see {self.listing})"
            )
        return spec

    def function(self, name):
        """The compute function registered for ``name``."""
        return self.functions[self.get(name).name]
