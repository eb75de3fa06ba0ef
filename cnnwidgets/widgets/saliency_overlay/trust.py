"""SaliencyOverlay's trust panel: how faithful is the map shown? (deletion, insertion, ROAD, ranking).

The panel is given the map the overlay shows (and, in Compare, the compared
maps) after every new result; on its own worker it measures them with
:meth:`Inspector.evaluate` (latest request wins: a new map cancels the
measurement of the previous one) and draws the curves with bqplot. Metric
names, labels and directions come from the metrics catalogue.
"""

import html
import numbers

import bqplot
import ipywidgets as widgets
import numpy as np
import traitlets

from ...backend.metrics import get_metric, metrics
from ...errors import CNNWidgetsError, InvalidTargetError, UnsupportedModelError
from ..common.runner import WIDGET_WORKER_LINGER, LatestRequestRunner
from ..common.style import show

__all__ = ["TrustPanel", "CURVE_COLOURS"]

#: Line colours of the curves, by (metric, order).
CURVE_COLOURS = {"deletion": "#e45756", "insertion": "#4c78a8", "road:most": "#f58518", "road:least": "#54a24b"}


class TrustPanel(widgets.VBox):
    """Deletion and insertion curves of the shown map, their areas, ROAD on request, a ranking in Compare.

    Parameters
    ----------
    inspector : Inspector
        The backend of the overlay.

    Attributes
    ----------
    results : dict
        ``{key: EvaluationResult}`` of the map shown: ``"deletion"``,
        ``"insertion"``, and with :attr:`road` ``"road:most"`` and
        ``"road:least"``.
    ranking : list of (str, float)
        In Compare: ``(title, score)`` of the compared maps, best first by
        :attr:`rank_metric`.
    figure : bqplot.Figure
        The curves.
    """

    #: Measure at all (off: nothing is computed).
    active = traitlets.Bool(True)
    #: Also compute ROAD (most- and least-relevant first), slower: one sparse solve per point.
    road = traitlets.Bool(False)
    #: Steps of the deletion and insertion curves.
    steps = traitlets.Int(50)
    #: Metric that ranks the compared maps (a name from ``cnnwidgets.metrics()``).
    rank_metric = traitlets.Unicode("deletion")

    def __init__(self, inspector, **kwargs):
        super().__init__(**kwargs)
        self.inspector = inspector
        self.results = {}
        self.ranking = []
        self._last = None
        self._title = ""
        self._explains = ""
        self._runner = LatestRequestRunner(on_busy=self._busy, linger=WIDGET_WORKER_LINGER)
        x_scale, y_scale = bqplot.LinearScale(min=0.0, max=1.0), bqplot.LinearScale(min=0.0, max=1.0)
        self._y_scale = y_scale
        self._lines = bqplot.Lines(x=[], y=[], scales={"x": x_scale, "y": y_scale}, labels=[""],
                                   colors=["#888"], stroke_width=2)
        self.figure = bqplot.Figure(
            marks=[self._lines],
            axes=[bqplot.Axis(scale=x_scale, label="fraction of pixels removed / inserted", tick_format=".1f",
                              num_ticks=6),
                  bqplot.Axis(scale=y_scale, orientation="vertical", label="class probability", tick_format=".3g",
                              num_ticks=3)],
            title="Faithfulness of the map shown",
            fig_margin={"top": 36, "bottom": 42, "left": 60, "right": 12},
            layout=widgets.Layout(width="420px", height="260px"), title_style={"font-size": "13px"},
        )
        self.figure.add_class("cnnwidgets-trust-curves")
        self.summary = widgets.HTML(layout=widgets.Layout(min_height="3em", width="380px"))
        self.summary.add_class("cnnwidgets-trust-summary")
        self.progress = widgets.FloatProgress(min=0.0, max=1.0, layout=widgets.Layout(width="160px",
                                                                                        visibility="hidden"))
        self._road_box = widgets.Checkbox(description="ROAD (slower)", indent=False,
                                          layout=widgets.Layout(width="130px"),
                                          tooltip=get_metric("road").description)
        self._steps_slider = widgets.IntSlider(min=5, max=200, step=5, description="curve steps",
                                               continuous_update=False, layout=widgets.Layout(width="260px"))
        self._rank_menu = widgets.Dropdown(
            options=[(spec.label, spec.name) for spec in metrics()], description="rank by",
            layout=widgets.Layout(width="260px"),
        )
        for control, name in ((self._road_box, "road"), (self._steps_slider, "steps"), (self._rank_menu, "rank_metric")):
            control.value = getattr(self, name)
            widgets.link((control, "value"), (self, name))
        self.ranking_table = widgets.HTML()
        self.ranking_table.add_class("cnnwidgets-trust-ranking")
        self._ranking_box = widgets.VBox([self._rank_menu, self.ranking_table])
        show(self._ranking_box, False)
        controls = widgets.HBox([self._steps_slider, self._road_box, self.progress],
                                layout=widgets.Layout(align_items="center", flex_flow="row wrap"))
        side = widgets.VBox([self.summary, self._ranking_box], layout=widgets.Layout(margin="0 0 0 12px"))
        self.children = [controls, widgets.HBox([self.figure, side], layout=widgets.Layout(flex_flow="row wrap"))]
        self.add_class("cnnwidgets-trust")

    # ------------------------------------------------------------- public API
    def measure(self, image, saliency, target, compared=(), title="the map shown", explains=""):
        """Measure ``saliency`` (and rank ``compared`` = ``[(title, map), ...]``) on the worker.

        ``target`` is what the map explains: a class index on a classifier,
        else the :mod:`cnnwidgets.targets` object the overlay explained;
        ``explains`` says it in words.
        """
        self._title, self._explains = str(title), str(explains)
        self._last = (image, np.asarray(saliency, np.float32), target, tuple(compared))
        self._request()

    def wait(self, timeout=60):
        """Block until the measurement is drawn (for scripts and tests)."""
        if not self._runner.wait(timeout):
            raise TimeoutError(f"the trust panel is still busy after {timeout} s")

    def stop(self):
        """Cancel the running measurement."""
        self._runner.cancel()

    # ------------------------------------------------------------- observers
    @traitlets.observe("active", "road", "steps", "rank_metric")
    def _settings_changed(self, change):
        self._request()

    @traitlets.validate("rank_metric")
    def _check_rank_metric(self, proposal):
        try:
            return get_metric(proposal.value).name
        except CNNWidgetsError as exc:
            raise traitlets.TraitError(str(exc)) from None

    @traitlets.validate("steps")
    def _check_steps(self, proposal):
        spec = get_metric("deletion").param("steps")
        if not spec.min <= proposal.value <= spec.max:
            raise traitlets.TraitError(f"steps must be between {spec.min} and {spec.max}, got {proposal.value}")
        return proposal.value

    # --------------------------------------------------------------- compute
    def _request(self):
        if self._last is None or not self.active:
            return
        image, saliency, class_index, compared = self._last
        title = self._title
        jobs = [("deletion", "deletion", {"steps": self.steps}), ("insertion", "insertion", {"steps": self.steps})]
        if self.road:
            jobs += [("road:most", "road", {"order": "most"}), ("road:least", "road", {"order": "least"})]
        rank = self.rank_metric if len(compared) > 1 else None
        rank_params = {"steps": self.steps} if rank in ("deletion", "insertion") else {}
        total = len(jobs) + (len(compared) if rank else 0)

        def compute(cancel):
            done = [0]

            def progress(step, steps):
                self.progress.value = (done[0] + (step / steps if steps else 1.0)) / total

            results = {}
            for key, metric, params in jobs:
                results[key] = self.inspector.evaluate(image, saliency, class_index, metric, progress=progress,
                                                       cancel=cancel, **params)
                done[0] += 1
            ranking = []
            for name, values in compared if rank else ():
                score = self.inspector.evaluate(image, values, class_index, rank, progress=progress, cancel=cancel,
                                                **rank_params).score
                ranking.append((name, score))
                done[0] += 1
            if rank:
                higher = get_metric(rank).better_is_higher(rank_params)
                ranking.sort(key=lambda item: -item[1] if higher else item[1])
            return results, ranking, rank, title, isinstance(class_index, numbers.Integral)

        self._runner.submit(compute, self._show, self._show_error)

    def _busy(self, busy):
        self.progress.layout.visibility = "visible" if busy else "hidden"
        if not busy:
            self.progress.value = 0.0

    # ------------------------------------------------------------------ draw
    def _show(self, value):
        results, ranking, rank, title, by_class = value
        self.results, self.ranking = results, ranking
        keys = list(results)
        labels = [_curve_label(key, results[key]) for key in keys]
        with self._lines.hold_sync():
            self._lines.x = [np.asarray(results[k].fractions) for k in keys]
            self._lines.y = [np.asarray(results[k].probabilities) for k in keys]
            self._lines.colors = [CURVE_COLOURS[k] for k in keys]
            self._lines.labels = labels
        first = next(iter(results.values()))
        # A classifier's class: a probability in [0, 1]; another target's score (a region's sum, a value) has its
        # own range.
        self._y_scale.min, self._y_scale.max = (0.0, 1.0) if by_class else (None, None)
        self.figure.axes[1].label = "class probability" if by_class else "score of the target"
        what = f", class {first.class_index}" if by_class else (
            "" if self._explains in title else f", {html.escape(self._explains or 'the target')}")
        lines = [f"<b style='color:{CURVE_COLOURS[key]}'>{html.escape(label)}</b>" for key, label in zip(keys, labels)]
        self.summary.value = (
            "<div style='font-size:12px;line-height:1.5'>"
            f"{html.escape(title)}{what}: area under each curve<br>{'<br>'.join(lines)}<br>"
            "<span style='color:#777'>deletion: lower is better; insertion: higher is better. "
            "Metrics can disagree (Tomsett et al. 2020).</span></div>"
        )
        show(self._ranking_box, bool(rank))
        if rank:
            arrow = "higher" if get_metric(rank).better_is_higher({"steps": self.steps}) else "lower"
            rows = "".join(f"<tr><td>{i + 1}.</td><td>{html.escape(title)}</td><td style='text-align:right'>"
                           f"{score:.3f}</td></tr>" for i, (title, score) in enumerate(ranking))
            self.ranking_table.value = (
                f"<div style='font-size:12px'>Compared maps, best first ({html.escape(get_metric(rank).label)}, "
                f"{arrow} is better):<table>{rows}</table></div>"
            )

    def _show_error(self, exc):
        text = str(exc) if isinstance(exc, CNNWidgetsError) else f"{type(exc).__name__}: {exc}"
        if isinstance(exc, (InvalidTargetError, UnsupportedModelError)) and self._last is not None \
                and not isinstance(self._last[2], numbers.Integral):
            text = f"The faithfulness metrics cannot measure this target yet ({text}); the map above is unaffected."
        self.summary.value = f"<span class='cnnwidgets-error' style='color:#b3261e'>{html.escape(text)}</span>"


def _curve_label(key, result):
    arrow = "\u2193" if not result.higher_is_better else "\u2191"
    name = {"deletion": "Deletion", "insertion": "Insertion", "road:most": "ROAD most relevant first",
            "road:least": "ROAD least relevant first"}[key]
    return f"{name} {result.score:.3f} {arrow}"


def attach_trust_panels(overlay):
    """Build the trust panel and the randomization check for ``overlay`` and place them under its tabs.

    Returns ``(trust, cascade)``. The overlay hands every new result to
    ``trust.measure``; the cascade reads the overlay's method, class, layer
    and colormap when its Run button is clicked.
    """
    from .cascade import CascadePanel

    def context():
        target = overlay.explained_target
        explains = f"class {overlay.class_name}" if isinstance(target, int) else overlay.describe_target()
        return {"image": overlay.image, "method": overlay.method, "class_index": target, "explains": explains,
                "layer": overlay.layer, "params": dict(overlay.method_params), "colormap": overlay.colormap}

    trust = TrustPanel(overlay.inspector)
    cascade = CascadePanel(overlay.inspector, context)
    section = widgets.Accordion([trust, cascade], titles=("Which map to trust? Deletion / insertion",
                                                          "Randomization check (Adebayo et al. 2018)"))
    section.selected_index = 0
    section.add_class("cnnwidgets-trust-section")
    children = list(overlay.children)
    children.insert(children.index(overlay.hover_label), section)
    overlay.children = tuple(children)
    overlay.trust_section = section
    return trust, cascade
