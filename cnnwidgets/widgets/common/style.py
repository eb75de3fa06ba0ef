"""Colours, the widgets' stylesheet and visibility helpers.

Theme policy
------------
The widgets follow the notebook's theme (JupyterLab light or dark, Notebook 7,
Voila) wherever the browser draws: texts use JupyterLab's CSS variables
(with the light theme's colour as the fallback outside JupyterLab), the
ipywidgets controls and the bqplot charts style themselves from the same
variables. What the kernel draws into canvases (the architecture diagram,
tile grids, thumbnails, legends) is painted on white: those canvases sit on
a deliberate light *card* (class :data:`CARD_CSS_CLASS`: white, rounded,
padded, framed), which in the light theme reads as a panel and in the dark
theme as a sheet of paper, not as a bare white slab. Images that fill their
canvas (the input, maps, overlays) need no card.
"""

import ipywidgets as widgets

__all__ = [
    "hex_to_rgba",
    "show",
    "stylesheet",
    "card",
    "as_card",
    "CARD_CSS_CLASS",
    "CARD_PADDING",
    "CRISP_CSS_CLASS",
    "TEXT",
    "TEXT_MUTED",
    "WARNING",
    "ERROR",
    "SUCCESS",
    "LEVEL_COLOURS",
]

#: CSS class of canvases whose pixels the browser enlarges as crisp squares.
CRISP_CSS_CLASS = "cnnwidgets-crisp"
#: CSS class of the light card under canvases drawn on white.
CARD_CSS_CLASS = "cnnwidgets-card"
#: Padding of a card, in CSS pixels (a card is this much wider than its canvas on each side).
CARD_PADDING = 6

#: Body text (JupyterLab's primary font colour).
TEXT = "var(--jp-ui-font-color1, #333)"
#: Hints, captions, secondary text.
TEXT_MUTED = "var(--jp-ui-font-color2, #555)"
#: Warnings (a busy note, a fallback).
WARNING = "var(--jp-warn-color0, #9a6700)"
#: Errors.
ERROR = "var(--jp-error-color1, #b3261e)"
#: Good news (e.g. a score that rises).
SUCCESS = "var(--jp-success-color1, #1b6e20)"
#: Colour of a status line per level.
LEVEL_COLOURS = {"info": TEXT_MUTED, "warning": WARNING, "error": ERROR}

_STYLESHEET = f"""<style>
canvas.{CRISP_CSS_CLASS} {{ image-rendering: crisp-edges; image-rendering: pixelated; }}
.{CARD_CSS_CLASS} {{
  background: #ffffff; border-radius: 6px; padding: {CARD_PADDING}px;
  box-shadow: 0 0 0 1px var(--jp-border-color2, #e0e0e0);
}}
</style>"""


def hex_to_rgba(colour):
    """``"#rrggbb"`` to an opaque ``(r, g, b, 255)`` tuple."""
    colour = colour.lstrip("#")
    return tuple(int(colour[i : i + 2], 16) for i in (0, 2, 4)) + (255,)


def show(widget, visible):
    """Show or hide a widget without removing it from its box."""
    widget.layout.display = "" if visible else "none"


def stylesheet():
    """An invisible HTML widget holding the widgets' stylesheet; put one in every top-level widget.

    It keeps enlarged canvases pixelated (:data:`CRISP_CSS_CLASS`) and styles
    the light cards (:data:`CARD_CSS_CLASS`).
    """
    return widgets.HTML(
        _STYLESHEET, layout=widgets.Layout(height="0px", width="0px", margin="0px", overflow="hidden")
    )


def card(canvas):
    """A light card (white, rounded, padded, framed) around a canvas drawn on white.

    The card takes the canvas' size (it never stretches into a slab) and
    hides and shows with it: set ``canvas.layout.display`` as before.
    """
    box = widgets.Box([canvas], layout=widgets.Layout(flex="0 0 auto", align_self="flex-start"))
    box.add_class(CARD_CSS_CLASS)
    box.layout.display = canvas.layout.display
    canvas.layout.observe(lambda change: setattr(box.layout, "display", change.new), "display")
    return box


def as_card(box):
    """Style an existing container of a canvas drawn on white (e.g. a scrolling box) as a light card."""
    box.add_class(CARD_CSS_CLASS)
    return box
