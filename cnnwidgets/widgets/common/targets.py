"""What a widget explains or watches, on any model: the target traits.

A classifier's widgets explain a class (``class_index``, ``None`` for the
predicted one), as they always have. A segmentation, regression or
several-output model needs more: which output (``output``), and on a dense
map which region (``region``) or on a regression output which direction
(``value_sign``). :class:`RequestedTarget` holds those traits, checks them
against the selected output and turns them into the
:mod:`cnnwidgets.targets` object the backend takes (:attr:`explained_target`).

The meaning of ``class_index`` follows the selected output's kind
(``output_kind``):

* ``"classes"``: a class of the vector (``None``: the predicted class).
* ``"map"``: a channel of the dense output (``None``: the class predicted
  over the largest area, the first channel, taken for background, only when
  no other class is predicted anywhere). The region explained is
  ``region`` if set, else every pixel predicted as that class. A map with
  one channel (a sigmoid foreground) has one class, 0, predicted where the
  mask is 1.
* ``"values"``: an entry of the regression vector (``None``: the first).
"""

import numbers

import numpy as np
import traitlets

from ...targets import Output, Region, Value
from .traits import ArrayTrait, RequestedClass, checked_class_index

__all__ = ["RequestedTarget", "default_map_class"]


def default_map_class(mask, count):
    """The channel explained by default on a map of ``count`` channels whose predicted mask is ``mask``.

    The class predicted over the largest area, the first (background) only
    if it is all there is. A one-channel map (mask 0/1: its one class where
    1) has one class to explain: channel 0.
    """
    if count == 1:
        return 0
    areas = np.bincount(mask.reshape(-1), minlength=count)
    if count > 1 and areas[1:].any():
        return int(np.argmax(areas[1:]) + 1)
    return int(np.argmax(areas))


class RequestedTarget(RequestedClass):
    """Traits saying what is explained on any model; the owner has an ``inspector``.

    The owner calls :meth:`_update_prediction` with each new image (it fills
    the read-only traits) and passes :attr:`explained_target` to the backend.
    """

    #: Name of the output explained (one of ``inspector.output_names``); the first by default.
    output = traitlets.Unicode()
    #: What the selected output holds: "classes", "values" or "map" (read-only).
    output_kind = traitlets.Unicode(read_only=True)
    #: Map outputs: the pixels explained, bool ``(H', W')`` at the output's resolution; ``None``: every
    #: pixel predicted as ``class_index``.
    region = ArrayTrait(None, allow_none=True)
    #: Regression outputs: +1 explains what raises the value, -1 what lowers it.
    value_sign = traitlets.Int(1)
    #: The selected output for the image shown, as read (probabilities, values or an ``(H', W', K)`` map;
    #: read-only, ``None`` until computed).
    output_values = ArrayTrait(None, allow_none=True, read_only=True)
    #: Map outputs: the class predicted at each pixel, int ``(H', W')`` (read-only; ``None`` otherwise).
    predicted_mask = ArrayTrait(None, allow_none=True, read_only=True)

    # ------------------------------------------------------------- public API
    @property
    def output_index(self):
        """Index of :attr:`output` among the model's outputs."""
        return self.inspector.output_names.index(self.output)

    @property
    def output_class_names(self):
        """Names of the selected output's classes, channels or values."""
        return self.inspector.output_class_names(self.output_index)

    @property
    def target(self):
        """The class, channel or value explained: :attr:`class_index`, else the predicted one (0 for values)."""
        if self.class_index is not None:
            return self.class_index
        if self.output_kind == "values":
            return 0
        return self.predicted_class

    @property
    def class_name(self):
        """Name of :attr:`target`; set a name to request that class."""
        target = self.target
        return None if target is None else self.output_class_names[target]

    @class_name.setter
    def class_name(self, name):
        self.class_index = str(name)

    @property
    def region_mask(self):
        """The bool ``(H', W')`` region explained on a map output (``None`` on other outputs or before a prediction)."""
        if self.output_kind != "map":
            return None
        if self.region is not None:
            return self.region
        if self.predicted_mask is None or self.target is None:
            return None
        if self.inspector.class_count(self.output_index) == 1:  # one channel: its pixels are the mask's 1s
            return self.predicted_mask == 1
        return self.predicted_mask == self.target

    @property
    def explained_target(self):
        """What the backend explains: a class index on a classifier, else a :mod:`cnnwidgets.targets` object.

        ``None`` until the image's prediction is known (the predicted class on a classifier).
        """
        target = self.target
        if self.inspector.is_classifier:
            return target
        if target is None:
            return None
        if self.output_kind == "values":
            return Output(self.output_index, Value(target, self.value_sign))
        if self.output_kind == "map":
            mask = self.region_mask
            if mask is None:
                return None
            if not mask.any():  # the class is predicted nowhere: explain its score over the whole map
                mask = np.ones_like(mask)
            return Output(self.output_index, Region(target, mask))
        return Output(self.output_index, target)

    def describe_target(self):
        """One line saying what is explained, e.g. ``tank over 37 px`` or ``row (up)``."""
        target = self.target
        if target is None:
            return ""
        name = self.output_class_names[target]
        if self.output_kind == "values":
            return f"{name} ({'up' if self.value_sign > 0 else 'down'})"
        if self.output_kind == "map":
            mask = self.region_mask
            pixels = 0 if mask is None else int(mask.sum())
            where = "painted region" if self.region is not None else "predicted area"
            return f"{name} over its {where} ({pixels} px)" if pixels else f"{name} (predicted nowhere: whole map)"
        return name

    # ------------------------------------------------------------ validation
    @traitlets.default("output")
    def _default_output(self):
        return self.inspector.output_names[0]

    @traitlets.default("output_kind")
    def _default_output_kind(self):
        return self.inspector.output_kinds[self.inspector.output_names.index(self.output)]

    @traitlets.validate("output")
    def _check_output(self, proposal):
        value = proposal.value
        names = self.inspector.output_names
        if value in names:
            return value
        raise traitlets.TraitError(f"the model has no output named {value!r}; its outputs are {names}")

    @traitlets.observe("output")
    def _output_selected(self, change):
        self.set_trait("output_kind", self.inspector.output_kinds[self.output_index])
        with self.hold_trait_notifications():
            self.region = None
            self.class_index = None

    @traitlets.validate("class_index")
    def _check_requested_class(self, proposal):
        spec = proposal.value
        if self.inspector.is_classifier or spec is None:
            return checked_class_index(self.inspector, spec)
        names = self.output_class_names
        if isinstance(spec, str):
            if spec in names:
                return names.index(spec)
            raise traitlets.TraitError(
                f"output {self.output!r} has no class or value named {spec!r}; choose one of {list(names)}")
        if isinstance(spec, (bool, np.bool_)) or not isinstance(spec, numbers.Integral):
            raise traitlets.TraitError(f"class_index must be an index, a name or None, not {spec!r}")
        if not 0 <= int(spec) < len(names):
            raise traitlets.TraitError(
                f"index {spec} is out of range: output {self.output!r} has {len(names)} (0 to {len(names) - 1})")
        return int(spec)

    @traitlets.validate("region")
    def _check_region(self, proposal):
        mask = proposal.value
        if mask is None:
            return None
        if self.output_kind != "map":
            raise traitlets.TraitError(
                f"a region is chosen on a dense output; output {self.output!r} holds {self.output_kind}")
        mask = np.asarray(mask).astype(bool)
        shape = tuple(self.inspector.output_shapes[self.output_index][:2])
        if mask.shape != shape:
            raise traitlets.TraitError(
                f"the region has shape {mask.shape}; it must match output {self.output!r}'s map {shape}")
        if not mask.any():
            raise traitlets.TraitError("the region is empty; paint at least one pixel, or set None for the "
                                       "class's whole predicted area")
        mask.flags.writeable = False
        return mask

    @traitlets.validate("value_sign")
    def _check_value_sign(self, proposal):
        if proposal.value not in (1, -1):
            raise traitlets.TraitError(f"value_sign must be +1 or -1, got {proposal.value!r}")
        return int(proposal.value)

    # ----------------------------------------------------------- prediction
    def _update_prediction(self, image):
        """Read the selected output for ``image`` and fill the read-only traits.

        Raises :class:`~cnnwidgets.CNNWidgetsError` from the backend (the
        owner shows it and keeps working).
        """
        values = self.inspector.predict_output(image, self.output_index)
        mask = predicted = probabilities = None
        if self.output_kind == "map":
            mask = self.inspector.predicted_mask(image, self.output_index)
            predicted = default_map_class(mask, values.shape[-1])
        elif self.output_kind == "classes":
            probabilities = values
            predicted = int(np.argmax(values))
        with self.hold_trait_notifications():
            self.set_trait("output_values", values)
            self.set_trait("predicted_mask", mask)
            self.set_trait("probabilities", probabilities)
            self.set_trait("predicted_class", predicted)

