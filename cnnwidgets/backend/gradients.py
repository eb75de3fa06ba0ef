"""``saliency``, ``gradcam`` and ``gradient``: the classic shortcuts over :meth:`Inspector.explain` (a mixin)."""

from ..errors import UnknownMethodError

__all__ = ["GradientMethods", "SALIENCY_METHODS"]

#: Methods accepted by :meth:`Inspector.saliency` (all are in the catalogue, ``cnnwidgets.methods()``).
SALIENCY_METHODS = ("vanilla", "smoothgrad", "integrated_gradients", "gradient_x_input")


class GradientMethods:
    """Input-gradient saliency maps and Grad-CAM, as documented shortcuts over ``explain``."""

    def gradient(self, image, class_index=None):
        """Gradient of the class logit with respect to the model input, ``(H, W, C)``."""
        _, model_input, key = self.prepare(image)
        target = self._target(class_index, model_input, key)
        return self._cache.get_or_compute(
            ("gradient", key, target.key), lambda: self._input_gradients(model_input[None], target)[0]
        ).copy()

    def saliency(self, image, class_index=None, method="vanilla", signed=False, samples=25,
                 noise=0.15, steps=32, baseline="black", batch_size=16, seed=0,
                 progress=None, cancel=None):
        """Gradient-based saliency map at input resolution.

        A shortcut for ``explain(image, method, class_index, ...)`` restricted
        to the four classic input-gradient methods, with their parameters as
        keywords; see :meth:`explain` and ``cnnwidgets.methods("gradient")``
        for the others (VarGrad, guided backpropagation).

        Parameters
        ----------
        image : array_like
            One image.
        class_index : int, str or target (:mod:`cnnwidgets.targets`), optional
            Class to explain, default the predicted class. Gradients are of
            the pre-softmax score.
        method : {"vanilla", "smoothgrad", "integrated_gradients", "gradient_x_input"}
            ``vanilla``: the input gradient (Simonyan et al. 2014).
            ``smoothgrad``: gradients averaged over ``samples`` noisy copies
            (Smilkov et al. 2017). ``integrated_gradients``: the path integral
            from ``baseline`` in ``steps`` midpoint steps (Sundararajan et al.
            2017). ``gradient_x_input``: gradient times the model input.
        signed : bool
            False: largest absolute value over channels. True: signed sum over channels.
        samples, noise : int, float
            SmoothGrad sample count and noise std as a fraction of the input range.
        steps : int
            Integrated Gradients steps.
        baseline : {"black", "blur", "gray"} or array_like
            Integrated Gradients baseline, in display pixels.
        batch_size : int
            Images per gradient call for SmoothGrad and Integrated Gradients.
        seed : int
            SmoothGrad noise seed.
        progress, cancel
            See :class:`~cnnwidgets.backend.jobs.JobControl`.

        Returns
        -------
        numpy.ndarray
            ``(H, W)`` float32 map.
        """
        if method not in SALIENCY_METHODS:
            raise UnknownMethodError(
                f"unknown saliency method {method!r}; use one of {', '.join(SALIENCY_METHODS)} "
                "(explain(...) takes every method of cnnwidgets.methods())"
            )
        params = {"signed": signed}
        if method == "smoothgrad":
            params.update(samples=samples, noise=noise, seed=seed)
        elif method == "integrated_gradients":
            params.update(steps=steps, baseline=baseline)
        return self.explain(image, method, class_index, batch_size=batch_size, progress=progress, cancel=cancel,
                            **params)

    def gradcam(self, image, class_index=None, layer=None, plus_plus=False, upsample=True):
        """Grad-CAM (or Grad-CAM++) class activation map.

        A shortcut for ``explain(image, "gradcam" | "gradcam_plus_plus", ...)``.

        Parameters
        ----------
        image : array_like
            One image.
        class_index : int, str or target (:mod:`cnnwidgets.targets`), optional
            Class to explain, default the predicted class. Uses the pre-softmax
            score, so a softmax model and its logits twin give the same map.
        layer : str, int or LayerRecord, optional
            A spatial layer; default :attr:`default_cam_layer` (the last
            spatial output before the head), inside nested models too.
        plus_plus : bool
            Use the Grad-CAM++ channel weights.
        upsample : bool
            Resize the map bilinearly to the input's height and width. False
            returns it at the layer's resolution.

        Returns
        -------
        numpy.ndarray
            ``(H, W)`` float32, non-negative, not normalised.

        Raises
        ------
        NoSpatialLayerError
            The model (or the chosen layer) has no ``(H, W, C)`` output.
        """
        method = "gradcam_plus_plus" if plus_plus else "gradcam"
        return self.explain(image, method, class_index, layer, upsample=upsample)
