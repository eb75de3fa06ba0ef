"""Controls for one method's parameters, built from its :class:`~cnnwidgets.backend.methods.ParamSpec` list.

Each parameter kind has one control: ``"float"`` a float slider, ``"int"`` an
int slider (a bounded number box when the range is too wide for a slider,
e.g. a random seed), ``"choice"`` a dropdown and ``"bool"`` a checkbox, with
the spec's label, range, step and description (as tooltip). A ``"choice"``
that also takes an image array (``array_ok``) lists the choices; an array set
from code shows as one more entry, "image (set in code)".
"""

import ipywidgets as widgets
import numpy as np

__all__ = ["ParamControls", "control_for", "CUSTOM_ARRAY", "SLIDER_MAX_POSITIONS"]

#: An int range with more positions than this gets a number box instead of a slider.
SLIDER_MAX_POSITIONS = 5000
#: Dropdown value standing for an image array set from code.
CUSTOM_ARRAY = "\u2039image\u203a"

_STYLE = {"description_width": "initial"}


def control_for(param):
    """A new ipywidgets control for ``param`` (a ParamSpec), showing its default."""
    common = dict(description=param.label, tooltip=param.description or param.label, style=_STYLE)
    if param.kind == "bool":
        return widgets.Checkbox(value=bool(param.default), indent=False,
                                layout=widgets.Layout(width="auto", margin="0 12px 0 0"), **common)
    if param.kind == "choice":
        return widgets.Dropdown(options=[(str(c), c) for c in param.choices], value=param.default,
                                layout=widgets.Layout(width="190px"), **common)
    bounded = param.min is not None and param.max is not None
    if param.kind == "int":
        step = int(param.step or 1)
        if bounded and (param.max - param.min) / step <= SLIDER_MAX_POSITIONS:
            return widgets.IntSlider(value=int(param.default), min=int(param.min), max=int(param.max), step=step,
                                     continuous_update=False, layout=widgets.Layout(width="320px"), **common)
        return widgets.BoundedIntText(value=int(param.default), step=step,
                                      min=int(param.min) if param.min is not None else -(2**31),
                                      max=int(param.max) if param.max is not None else 2**31 - 1,
                                      layout=widgets.Layout(width="170px"), **common)
    if bounded:
        return widgets.FloatSlider(value=float(param.default), min=float(param.min), max=float(param.max),
                                   step=float(param.step or (param.max - param.min) / 100), readout_format=".3g",
                                   continuous_update=False, layout=widgets.Layout(width="320px"), **common)
    return widgets.FloatText(value=float(param.default), step=param.step, layout=widgets.Layout(width="170px"),
                             **common)


class ParamControls(widgets.HBox):
    """The controls of one method's parameters, in the catalogue's order.

    Parameters
    ----------
    spec : MethodSpec
        The method (its ``params`` give the controls).
    on_change : callable
        Called as ``on_change(name, value)`` when the user moves a control
        (never for :meth:`set_values`).

    Attributes
    ----------
    controls : dict
        ``{parameter name: ipywidgets control}``.
    """

    def __init__(self, spec, on_change):
        self.spec = spec
        self._on_change = on_change
        self._updating = False
        self._arrays = {}  # last image array set from code, per array_ok choice
        self.controls = {param.name: control_for(param) for param in spec.params}
        for name, control in self.controls.items():
            control.observe(lambda change, name=name: self._changed(name, change.new), names="value")
        super().__init__(list(self.controls.values()),
                         layout=widgets.Layout(flex_flow="row wrap", align_items="center"))
        self.add_class("cnnwidgets-method-params")

    def values(self):
        """``{name: value}`` the controls show (an array where "image" is picked)."""
        return {name: self._value(name, control.value) for name, control in self.controls.items()}

    def set_values(self, values):
        """Show ``values`` (a method's bound parameters) without calling ``on_change``."""
        self._updating = True
        try:
            for param in self.spec.params:
                if param.name not in values:
                    continue
                control, value = self.controls[param.name], values[param.name]
                if param.kind == "choice" and isinstance(value, np.ndarray):
                    self._arrays[param.name] = value
                    self._offer_array(param, control)
                    value = CUSTOM_ARRAY
                if _differs(control.value, value):
                    control.value = value
        finally:
            self._updating = False

    def _offer_array(self, param, control):
        options = [(str(c), c) for c in param.choices] + [("image (set in code)", CUSTOM_ARRAY)]
        if tuple(control.options) != tuple(options):
            value = control.value
            control.options = options
            control.value = value if value in (*param.choices, CUSTOM_ARRAY) else param.default

    def _value(self, name, value):
        return self._arrays[name] if value == CUSTOM_ARRAY and name in self._arrays else value

    def _changed(self, name, value):
        if not self._updating:
            self._on_change(name, self._value(name, value))


def _differs(old, new):
    if isinstance(old, np.ndarray) or isinstance(new, np.ndarray):
        return old is not new
    return old != new
