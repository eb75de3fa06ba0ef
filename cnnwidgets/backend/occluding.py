"""Occlusion methods of :class:`~cnnwidgets.Inspector` (a mixin; see inspector.py)."""

import numbers

import numpy as np

from ..errors import InvalidImageError, InvalidParameterError
from .jobs import JobControl
from .occlusion import FILLS, box_mask, default_patch, fill_image, patch_positions

__all__ = ["OcclusionMethods"]


class OcclusionMethods:
    """Cover part of an image and watch the class probabilities (Zeiler & Fergus 2014)."""

    def occluded_image(self, image, box=None, mask=None, fill="gray"):
        """The display image with ``box`` (or ``mask``) covered by ``fill``."""
        display, _, key = self.prepare(image)
        covered = self._occlusion_mask(display, box, mask)
        filler = self._fill(display, key, fill)
        return np.where(covered[..., None], filler, display)

    def occlude(self, image, box=None, fill="gray", mask=None):
        """Class probabilities with part of the image covered.

        Parameters
        ----------
        image : array_like
            One image.
        box : tuple of int, optional
            ``(y0, x0, y1, x1)`` in input pixels, end-exclusive, clipped to the image.
        fill : str or float
            ``"gray"``, ``"black"``, ``"white"``, ``"mean"``, ``"blur"`` or a pixel value.
        mask : array_like of bool, optional
            ``(H, W)`` pixels to cover, for painted (non-square) occluders.
            Covered pixels are the union of ``box`` and ``mask``.

        Returns
        -------
        numpy.ndarray
            ``(num_classes,)`` probabilities. One forward pass.
        """
        display, model_input, key = self.prepare(image)
        covered = self._occlusion_mask(display, box, mask)
        filler = self._model_fill(display, key, fill)
        occluded = np.where(covered[..., None], filler, model_input)
        return self._forward_fn()(occluded[None])[0].numpy()[0]

    def _occlusion_mask(self, display, box, mask):
        height, width = display.shape[:2]
        covered = np.zeros((height, width), dtype=bool)
        if box is not None:
            covered |= box_mask(box, height, width)
        if mask is not None:
            mask = np.asarray(mask, dtype=bool)
            if mask.shape != (height, width):
                raise InvalidImageError(
                    f"the occlusion mask has shape {mask.shape}; it must match the image, {(height, width)}"
                )
            covered |= mask
        return covered

    def _fill(self, display, key, fill):
        fill_key = ("fill", key, _fill_key(fill))
        return self._cache.get_or_compute(fill_key, lambda: fill_image(display, fill, self.input_range))

    def _model_fill(self, display, key, fill):
        fill_key = ("model_fill", key, _fill_key(fill))
        return self._cache.get_or_compute(
            fill_key, lambda: self._preprocess(self._fill(display, key, fill)[None])[0]
        )

    def occlusion_map(self, image, class_index=None, patch=None, stride=None, fill="gray",
                      batch_size=64, progress=None, cancel=None):
        """Occlusion sensitivity (Zeiler & Fergus 2014) at input resolution.

        A ``patch x patch`` square slides over the image with ``stride``; for
        each position the drop of the class probability is measured. Each
        pixel's value is the mean drop over the positions that cover it.
        Positions are batched through one compiled forward pass.

        Parameters
        ----------
        image : array_like
            One image.
        class_index : int or str, optional
            The class whose probability to watch; default the predicted class.
        patch : int, optional
            Side of the square, default a sixth of the shorter image side.
        stride : int, optional
            Step between positions, default ``patch // 2`` (at least 1).
        fill : str or float
            As for :meth:`occlude`.
        batch_size : int
            Occluded copies per forward pass.
        progress, cancel
            See :class:`~cnnwidgets.backend.jobs.JobControl`.

        Returns
        -------
        numpy.ndarray
            ``(H, W)`` float32; positive where covering lowers the probability.
        """
        display, model_input, key = self.prepare(image)
        height, width = display.shape[:2]
        target = self._target(class_index, model_input, key)
        # ``is None``, not truthiness: 0 is an invalid size, not "use the default".
        patch = default_patch(height, width) if patch is None else int(patch)
        if patch < 1:
            raise InvalidParameterError(f"patch must be at least 1 pixel, got {patch}")
        stride = max(1, patch // 2) if stride is None else int(stride)
        if stride < 1:
            raise InvalidParameterError(f"stride must be at least 1 pixel, got {stride}")
        batch_size = int(batch_size)
        if batch_size < 1:
            raise InvalidParameterError(f"batch_size must be at least 1, got {batch_size}; pass a positive integer")
        cache_key = ("occlusion_map", key, target, patch, stride, _fill_key(fill))
        cached = self._cache.get(cache_key)
        if cached is not None:
            if progress is not None:
                progress(1, 1)
            return cached.copy()
        filler = self._model_fill(display, key, fill)
        positions = [
            (y, x)
            for y in patch_positions(height, patch, stride)
            for x in patch_positions(width, patch, stride)
        ]
        size = min(patch, height), min(patch, width)
        drop_sum = np.zeros((height, width), np.float64)
        count = np.zeros((height, width), np.float64)
        job = JobControl(len(positions), progress, cancel)
        job.check()
        base = None
        for start in range(0, len(positions), batch_size):
            chunk = positions[start : start + batch_size]
            # The first batch also carries the unoccluded image: its score is the base,
            # taken through the same score hook without a pass of its own.
            extra = int(base is None)
            batch = np.repeat(model_input[None], len(chunk) + extra, axis=0)
            for i, (y, x) in enumerate(chunk, start=extra):
                batch[i, y : y + size[0], x : x + size[1]] = filler[y : y + size[0], x : x + size[1]]
            probs = self._batch_scores(batch, target, kind="probability")
            if extra:
                base, probs = float(probs[0]), probs[1:]
            for (y, x), prob in zip(chunk, probs):
                drop_sum[y : y + size[0], x : x + size[1]] += base - prob
                count[y : y + size[0], x : x + size[1]] += 1
            job.advance(len(chunk))
        result = (drop_sum / np.maximum(count, 1)).astype(np.float32)
        return self._cache.put(cache_key, result).copy()


def _fill_key(fill):
    """``fill`` as a hashable cache-key part: the name, or the number as float."""
    if isinstance(fill, str):
        return fill
    if isinstance(fill, numbers.Real):
        return float(fill)
    raise InvalidParameterError(f"unknown fill {fill!r}; use one of {', '.join(FILLS)} or a number")
