"""What the SaliencyOverlay reads from the method catalogue: names, labels, families, defaults.

The widget names no explanation method. Its picker, its Compare list, its
parameter controls and its defaults all come from
:func:`cnnwidgets.methods` (the backend's catalogue), so a method registered
there appears here with its label, its family and its controls, and is
computed through :meth:`Inspector.explain <cnnwidgets.Inspector.explain>`.
"""

import html

from ...backend.methods import get_method, methods

__all__ = [
    "SIGNED_PARAM",
    "family_title",
    "method_options",
    "available_methods",
    "default_method",
    "default_layer_method",
    "default_compare_methods",
    "is_signed",
    "method_info_html",
]

#: A method whose parameter of this name is True returns a map with both signs
#: (drawn on a diverging colormap centred on zero); every other map is drawn
#: as a magnitude.
SIGNED_PARAM = "signed"

_FAMILY_TITLES = {"gradient": "Gradient", "cam": "CAM", "perturbation": "Perturbation"}


def family_title(family):
    """``"cam"`` -> ``"CAM"``: the family's name in the picker."""
    return _FAMILY_TITLES.get(family, family.capitalize())


def method_options(names):
    """``[(label, name), ...]`` for a picker: each label starts with its family, in catalogue order."""
    return [(f"{family_title(get_method(n).family)} \u00b7 {get_method(n).label}", n) for n in names]


def available_methods(has_layers):
    """Names of the catalogue's methods a model can run: those that explain a layer need one."""
    return tuple(spec.name for spec in methods() if has_layers or not spec.needs_layer)


def _first(specs, default=None):
    return next((spec.name for spec in specs), default)


def default_method(has_layers, dense_output=False):
    """The method shown first: the catalogue's first quick layer method, else its first quick method.

    On a dense (map) output the first quick method that explains pixels
    directly comes first: a region is a question of its own, and a CAM
    method averages the gradient over the whole feature map, so behind a
    linear 1x1-convolution head it draws the same map for every region.
    """
    quick = [spec for spec in methods() if not spec.long and (has_layers or not spec.needs_layer)]
    if dense_output:
        return _first([s for s in quick if not s.needs_layer]) or available_methods(has_layers)[0]
    return _first([s for s in quick if s.needs_layer]) or _first(quick) or available_methods(has_layers)[0]


def default_layer_method():
    """The method Compare-by-layer uses when the selected one explains no layer (the first quick layer method)."""
    specs = [spec for spec in methods() if spec.needs_layer]
    return _first([s for s in specs if not s.long]) or _first(specs)


def default_compare_methods(has_layers, per_family=2):
    """The methods compared first: the first ``per_family`` quick methods of each family, in catalogue order."""
    chosen, counts = [], {}
    for spec in methods():
        if spec.long or (spec.needs_layer and not has_layers):
            continue
        if counts.get(spec.family, 0) < per_family:
            counts[spec.family] = counts.get(spec.family, 0) + 1
            chosen.append(spec.name)
    return chosen


def is_signed(params):
    """True if a method's bound parameters ask for a signed map."""
    return bool(params.get(SIGNED_PARAM, False))


def method_info_html(name):
    """One line under the picker: the method's description and its paper (a link)."""
    spec = get_method(name)
    paper = html.escape(spec.paper)
    if spec.url:
        paper = f'<a href="{html.escape(spec.url)}" target="_blank" rel="noopener">{paper}</a>'
    steps = " \u00b7 many passes: progress and Stop" if spec.long else ""
    return (f"<div style='font-size:12px;line-height:1.4'><b>{html.escape(spec.label)}</b> "
            f"({family_title(spec.family)}): {html.escape(spec.description)}.{steps} \u00b7 {paper}</div>")
