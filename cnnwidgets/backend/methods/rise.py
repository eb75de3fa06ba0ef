"""RISE: randomized input sampling, averaged over seeded soft random masks."""

import numpy as np

from ._common import SEED
from .catalogue import MethodSpec, ParamSpec, method


def _interpolation(cells, out):
    """``(out, cells)`` bilinear weights resizing ``cells`` values to ``out`` (half-pixel centres, clamped)."""
    centres = np.clip((np.arange(out) + 0.5) * cells / out - 0.5, 0, cells - 1)
    low = np.floor(centres).astype(int)
    high = np.minimum(low + 1, cells - 1)
    frac = centres - low
    matrix = np.zeros((out, cells))
    matrix[np.arange(out), low] += 1 - frac
    matrix[np.arange(out), high] += frac
    return matrix


def rise_masks(height, width, count, cells, keep, seed, start=0, stop=None):
    """Masks ``start:stop`` of RISE's ``count`` seeded soft masks, ``(n, H, W)`` float32 in [0, 1].

    As in Petsiuk et al.: a ``cells x cells`` grid of cells kept with
    probability ``keep`` (drawn by ``numpy.random.default_rng(seed)``),
    upsampled bilinearly to ``(cells + 1)`` times the cell size
    ``ceil(H / cells)``, and cropped to ``(H, W)`` at a random shift within
    one cell.
    """
    stop = count if stop is None else stop
    rng = np.random.default_rng(seed)
    grids = (rng.random((count, cells, cells)) < keep).astype(np.float64)
    cell_h, cell_w = -(-height // cells), -(-width // cells)
    shifts = np.stack([rng.integers(0, cell_h, count), rng.integers(0, cell_w, count)], axis=1)
    rows, cols = _interpolation(cells, (cells + 1) * cell_h), _interpolation(cells, (cells + 1) * cell_w)
    masks = np.empty((stop - start, height, width), np.float32)
    for n, index in enumerate(range(start, stop)):
        dy, dx = shifts[index]
        masks[n] = rows[dy : dy + height] @ grids[index] @ cols[dx : dx + width].T
    return masks


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
    """``sum_i p_c(x * M_i) M_i / (masks * keep)``; masks multiply the model input."""
    params = request.params
    count, (height, width) = params["masks"], request.inputs.shape[1:3]
    job = request.job(len(request.inputs) * count)
    maps = np.zeros((len(request.inputs), height, width), np.float64)
    for rows in request.chunks(count):
        masks = rise_masks(height, width, count, params["cells"], params["keep"], params["seed"], rows.start, rows.stop)
        for i, image in enumerate(request.inputs):
            scores = insp._masked_scores(image, masks, request.targets[i], kind="probability", rescale=False)
            maps[i] += np.tensordot(scores, masks, axes=1)
            job.advance(len(masks))
    return (maps / (count * params["keep"])).astype(np.float32)
