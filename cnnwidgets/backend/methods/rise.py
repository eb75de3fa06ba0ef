"""RISE: randomized input sampling, averaged over seeded soft random masks."""

import numpy as np

from ._common import SEED
from .catalogue import MethodSpec, ParamSpec, method


def draw_masks(height, width, count, cells, keep, seed):
    """The random part of RISE's masks, and how to expand it: ``(grids, shifts, rows, cols)``.

    ``numpy.random.default_rng(seed)`` draws, in this order, ``grids =
    random((count, cells, cells)) < keep``, then row shifts and column shifts
    ``integers(0, cell, count)`` with ``cell = ceil(side / cells)``. Mask
    ``i`` is ``grids[i]`` resized bilinearly (half-pixel centres, clamped
    edges) to ``(cells + 1) * cell`` per side and cropped to ``(H, W)`` at
    ``shifts[i]`` (Petsiuk et al. 2018). ``rows`` and ``cols`` are that
    resize as matrices, ``((cells + 1) * cell, cells)``: mask ``i`` is
    ``rows[dy:dy + H] @ grids[i] @ cols[dx:dx + W].T``, computed in the
    compiled pass, batch by batch.
    """
    rng = np.random.default_rng(seed)
    grids = (rng.random((count, cells, cells)) < keep).astype(np.float32)
    cell_h, cell_w = -(-height // cells), -(-width // cells)
    shifts = np.stack([rng.integers(0, cell_h, count), rng.integers(0, cell_w, count)], axis=1).astype(np.int32)
    return grids, shifts, _resize_matrix(cells, (cells + 1) * cell_h), _resize_matrix(cells, (cells + 1) * cell_w)


def _resize_matrix(cells, out):
    """``(out, cells)`` bilinear weights resizing ``cells`` values to ``out`` (half-pixel centres)."""
    centres = np.clip((np.arange(out) + 0.5) * cells / out - 0.5, 0, cells - 1)
    low = np.floor(centres).astype(int)
    high = np.minimum(low + 1, cells - 1)
    frac = centres - low
    matrix = np.zeros((out, cells), np.float32)
    matrix[np.arange(out), low] += 1 - frac
    matrix[np.arange(out), high] += frac
    return matrix


@method(MethodSpec(
    name="rise", label="RISE", family="perturbation", needs_layer=False,
    params=(
        ParamSpec("masks", "Masks", "int", 1000, min=1, max=20000, step=50,
                  description="random masks (forward passes) per image"),
        ParamSpec("cells", "Grid cells", "int", 7, min=2, max=64, step=1,
                  description="cells per side of the mask grid: the cell size is the image side / cells"),
        ParamSpec("keep", "Keep probability", "float", 0.5, min=0.05, max=0.95, step=0.05,
                  description="probability that a grid cell is kept (shown)"),
        SEED,
    ),
    long=True,
    description="Class probability of randomly masked copies, averaged over the masks that show each pixel",
    paper="Petsiuk, Das & Saenko 2018, RISE: Randomized Input Sampling for Explanation of Black-box Models",
    url="https://arxiv.org/abs/1806.07421",
))
def rise(insp, request):
    """``sum_i p_c(x * M_i) M_i / (masks * keep)``; masks multiply the model input (after ``preprocess``)."""
    params = request.params
    count, (height, width) = params["masks"], request.inputs.shape[1:3]
    grids, shifts, rows_matrix, cols_matrix = draw_masks(height, width, count, params["cells"], params["keep"],
                                                         params["seed"])
    job = request.job(len(request.inputs) * count)
    maps = np.zeros((len(request.inputs), height, width), np.float64)
    for i, image in enumerate(request.inputs):
        for rows in request.chunks(count):
            maps[i] += insp._rise_sum(image, grids[rows], shifts[rows], rows_matrix, cols_matrix, request.targets[i])
            job.advance(rows.stop - rows.start)
    return (maps / (count * params["keep"])).astype(np.float32)
