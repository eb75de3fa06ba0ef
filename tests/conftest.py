"""Shared pytest setup for the whole suite (kept minimal on purpose).

Quiet TensorFlow's C++ logging before anything imports it, and seed the global
numpy RNG before each test so that tests relying on it are reproducible.
TensorFlow itself is *not* imported here: tests that need it import it.
"""

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(autouse=True)
def _seed_numpy():
    np.random.seed(0)
