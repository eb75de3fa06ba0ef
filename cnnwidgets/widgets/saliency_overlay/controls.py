"""Controls of the SaliencyOverlay: the colormap choices and the class picker.

The method picker and the parameter controls come from the catalogue (see
:mod:`.methods` and :mod:`.params`).
"""

import ipywidgets as widgets
import numpy as np

from ..common.style import show

__all__ = ["SEQUENTIAL_COLORMAPS", "DIVERGING_CHOICES", "ClassPicker"]

#: Colormaps offered for absolute maps.
SEQUENTIAL_COLORMAPS = ("turbo", "inferno", "viridis", "magma", "hot", "jet", "gray")
#: Colormaps offered for signed maps (zero in the middle).
DIVERGING_CHOICES = ("RdBu_r", "bwr", "coolwarm", "seismic", "PiYG")


class ClassPicker(widgets.HBox):
    """Pick the class to explain: the top classes as buttons, any class by name.

    Parameters
    ----------
    on_pick : callable
        Called with the class index the user picked.
    top_k : int
        Number of one-click buttons (the most probable classes).

    Attributes
    ----------
    buttons : list of ipywidgets.Button
        One per top class, labelled with its name and probability; the
        selected class' button is highlighted.
    chooser : ipywidgets.Combobox
        Type (with completion) any class name.
    """

    def __init__(self, on_pick, top_k=5):
        self._on_pick = on_pick
        self._names = ()
        self._order = []
        self._selected = None
        self._updating = False
        self.buttons = []
        for _ in range(int(top_k)):
            button = widgets.Button(layout=widgets.Layout(width="auto", min_width="64px"))
            button.add_class("cnnwidgets-class-button")
            button.on_click(self._clicked)
            self.buttons.append(button)
        self.chooser = widgets.Combobox(
            placeholder="any class by name", ensure_option=True, layout=widgets.Layout(width="190px")
        )
        self.chooser.add_class("cnnwidgets-class-chooser")
        self.chooser.observe(self._typed, names="value")
        label = widgets.HTML("<b>Explain class</b>", layout=widgets.Layout(margin="0 6px 0 0"))
        super().__init__(
            [label, *self.buttons, self.chooser],
            layout=widgets.Layout(flex_flow="row wrap", align_items="center"),
        )

    @property
    def order(self):
        """Class indices on the buttons, most probable first."""
        return list(self._order)

    def set_choices(self, probabilities, names):
        """Label the buttons with the top classes of ``probabilities`` (names: one per class)."""
        probabilities = np.asarray(probabilities, np.float64)
        names = tuple(str(n) for n in names)
        order = np.argsort(-probabilities, kind="stable")[: len(self.buttons)]
        self._order = [int(i) for i in order]
        for i, button in enumerate(self.buttons):
            if i < len(self._order):
                index = self._order[i]
                button.description = f"{names[index]} \u00b7 {100 * probabilities[index]:.1f}%"
                button.tooltip = f"explain class {names[index]} (index {index}, p = {probabilities[index]:.4f})"
                show(button, True)
            else:
                show(button, False)
        if names != self._names:
            self._names = names
            self._updating = True
            try:
                self.chooser.options = names
            finally:
                self._updating = False
        self.select(self._selected)

    def select(self, index):
        """Highlight class ``index`` (its button, if it has one, and the name box)."""
        self._selected = index
        for i, button in enumerate(self.buttons):
            chosen = i < len(self._order) and self._order[i] == index
            style = "primary" if chosen else ""
            if button.button_style != style:
                button.button_style = style
        if index is not None and index < len(self._names) and self.chooser.value != self._names[index]:
            self._updating = True
            try:
                self.chooser.value = self._names[index]
            finally:
                self._updating = False

    def _clicked(self, button):
        position = self.buttons.index(button)
        if position < len(self._order):
            self._on_pick(self._order[position])

    def _typed(self, change):
        if self._updating or change.new not in self._names:
            return
        self._on_pick(self._names.index(change.new))

