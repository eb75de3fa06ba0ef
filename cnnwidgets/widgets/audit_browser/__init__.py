"""AuditBrowser: SpRAy clusters of a data set's explanations (panels: pure numpy; widget: ipywidgets + bqplot)."""

from .widget import AuditBrowser

__all__ = ["AuditBrowser"]
