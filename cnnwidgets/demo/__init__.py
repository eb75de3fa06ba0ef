"""Built-in demo models and data, all offline (TensorFlow is imported lazily).

* The embedded default: a small trained digits CNN and held-out sample digits.
* The tank story: a synthetic data set with a weather confound, and a small
  CNN that trains on it in seconds.
* Beyond classification: tank scenes with their masks, a segmenter and a
  tank-locating regression CNN trained in seconds (:mod:`.scenes`).
* :func:`require`: import what a lesson needs beyond cnnwidgets, or say in
  one line which extra to install.
"""

from .digits import DIGIT_CLASS_NAMES, build_digits_model, digits_model, digits_samples
from .optional import require
from .scenes import SEGMENT_CLASS_NAMES, tank_centres, tank_scenes, train_tank_locator, train_tank_segmenter
from .tank import TANK_CLASS_NAMES, build_tank_model, tank_data, tank_sky_mask, train_tank_model

__all__ = [
    "DIGIT_CLASS_NAMES",
    "build_digits_model",
    "digits_model",
    "digits_samples",
    "TANK_CLASS_NAMES",
    "build_tank_model",
    "tank_data",
    "tank_sky_mask",
    "train_tank_model",
    "require",
    "SEGMENT_CLASS_NAMES",
    "tank_scenes",
    "tank_centres",
    "train_tank_segmenter",
    "train_tank_locator",
]
