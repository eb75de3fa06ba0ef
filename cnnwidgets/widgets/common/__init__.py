"""What every widget shares; no module here imports a widget.

- :mod:`.canvas`: every canvas, with the one drawing lock policy, PNG sending
  and replay for browser views that connect late.
- :mod:`.runner`: the latest-request worker, with the stale-result guard.
- :mod:`.widget`: :class:`InspectorWidget`, the base of the widgets (status
  line, progress bar, worker, snapshot), and input checks.
- :mod:`.traits`: array and image traits, colormap and class validation.
- :mod:`.targets`: what is explained on any model (output, class, region, value sign).
- :mod:`.target_panel`: the view that chooses the target (output picker, mask with click/paint/box,
  value readout with sign), on the owner's target traits; :mod:`.value_rows` its value list.
- :mod:`.charts`: the class-score bar chart.
- :mod:`.thumbnails`: the clickable strip of input images.
- :mod:`.style`: colours and visibility helpers.
"""
