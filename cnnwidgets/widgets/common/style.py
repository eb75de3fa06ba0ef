"""Colours and visibility helpers shared by the widgets."""

__all__ = ["hex_to_rgba", "show"]


def hex_to_rgba(colour):
    """``"#rrggbb"`` to an opaque ``(r, g, b, 255)`` tuple."""
    colour = colour.lstrip("#")
    return tuple(int(colour[i : i + 2], 16) for i in (0, 2, 4)) + (255,)


def show(widget, visible):
    """Show or hide a widget without removing it from its box."""
    widget.layout.display = "" if visible else "none"
