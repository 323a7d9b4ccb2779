"""The live state viewer: an ipywidgets panel over motia_nb's state.

``viewer()`` (and ``%state viewer [group]``) returns a :class:`Viewer`, a widget that
shows the groups with their item counts (and a box that filters them), the selected
group's items one page at a time (insertion or key order, either way; each page is
one ``items(offset, limit, order)`` query, so a 100,000-item group opens at once),
and the selected item's value as editable JSON, with add, save, revert, delete,
clear (after a confirmation) and refresh. Edits are ordinary writes: they emit
change events and fire state triggers, whose output shows in the viewer's
*Trigger output* area.

The package, one job per module:

- :mod:`.model` — the view state as traitlets and the paging arithmetic (pure);
- :mod:`.text` — summaries, indented JSON, strict JSON parsing (pure);
- :mod:`.layout` — the widgets and their CSS classes (no behaviour);
- :mod:`.live` — the async reads (:func:`~.live.load`) and the debouncer that turns
  change events and cross-process change-token polls into one refresh at a time;
- :mod:`.panel` — :class:`Viewer`: rendering and the user's actions.
"""

from ..parsing import load_json as parse_json_value  # the one strict JSON reader, under its old name here
from .model import SORT_ORDERS
from .panel import Viewer, close_all_viewers, viewer
from .text import summarize

__all__ = ["Viewer", "viewer", "summarize", "parse_json_value", "close_all_viewers", "SORT_ORDERS"]
