"""Compute backend: TensorFlow and numpy only, never ipywidgets.

:class:`Inspector` binds a Keras model once, compiles its functions once, caches
results per (image, layer, parameters) and returns numpy arrays.
"""

from .graph import LayerRecord
from .incremental import DrillDown, OcclusionRun
from .inspector import SALIENCY_METHODS, Inspector, MaximizationResult
from .jobs import JobControl

__all__ = ["Inspector", "LayerRecord", "MaximizationResult", "JobControl", "SALIENCY_METHODS", "DrillDown",
           "OcclusionRun"]
