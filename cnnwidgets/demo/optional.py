"""Import what a lesson needs beyond cnnwidgets, or say in one line what to install."""

import importlib

from .. import compat
from ..errors import MissingDependencyError

__all__ = ["require"]

#: Top-level module -> the pip distribution that provides it, where the names differ.
_DISTRIBUTIONS = {"skimage": "scikit-image", "PIL": "pillow", "sklearn": "scikit-learn"}


def require(module, extra="notebooks"):
    """Import ``module`` for a notebook, or raise a one-line message saying what to install.

    ``require("keras")`` and ``require("tensorflow")`` load them the way
    cnnwidgets does: quietly (without TensorFlow's start-up lines) and with a
    message naming cnnwidgets' TensorFlow extras when TensorFlow is missing.

    Parameters
    ----------
    module : str
        A module name, e.g. ``"skimage.data"``.
    extra : str
        The cnnwidgets extra that installs it.

    Returns
    -------
    module
        The imported module.

    Raises
    ------
    MissingDependencyError
        ``module`` (or a package it needs) is not installed; the message is
        the ``pip install`` line to run.

    Examples
    --------
    >>> import cnnwidgets as cw
    >>> skimage_data = cw.demo.require("skimage.data")   # doctest: +SKIP
    """
    top = module.split(".")[0]
    if top == "keras":
        return compat.load_keras() if module == "keras" else importlib.import_module(module)
    if top == "tensorflow":
        compat.load_tensorflow()
        return importlib.import_module(module)
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        missing = (exc.name or top).split(".")[0]
        distribution = _DISTRIBUTIONS.get(missing, missing)
        raise MissingDependencyError(
            f'this notebook needs {distribution}, which is not installed: run  pip install "cnnwidgets[{extra}]"  '
            "(or pip install " + distribution + "), then restart the kernel"
        ) from None
