"""Built-in demo models and sample data (TensorFlow is imported lazily)."""

from .digits import DIGIT_CLASS_NAMES, build_digits_model, digits_model, digits_samples

__all__ = ["DIGIT_CLASS_NAMES", "build_digits_model", "digits_model", "digits_samples"]
