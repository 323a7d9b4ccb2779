"""The live state viewer: an ipywidgets panel over motia_nb's state.

``viewer()`` (and ``%state viewer [group]``) returns a :class:`Viewer`, a widget that
shows the groups with their item counts (and a box that filters them; the groups of
streams, ``<stream>::<group>``, listed last and marked), the selected group's items
one page at a time (insertion or key order, either way; each page read from its
neighbour's keys, so a 1,000,000-item group pages at once), a *find key* box (keys
starting with, then containing, the text; *Go* shows the page holding a key), and the
selected item's value as editable JSON, with add, save, revert, delete and clear
(each destructive one after a confirmation) and refresh. Edits are ordinary writes:
they emit change events and fire triggers, whose output shows in the viewer's
*Trigger output* area.

The package, one job per module:

- :mod:`.model` — the view state as traitlets and the paging arithmetic (pure);
- :mod:`.text` — summaries and labels (pure);
- :mod:`.layout` — the widgets and their CSS classes (no behaviour);
- :mod:`.paging` — pages by keyset, the page of a key, key search (async reads);
- :mod:`.data` — counts kept from change events, and the one read of a refresh;
- :mod:`.live` — the debouncer that turns change notices and change-token polls into
  one refresh at a time;
- :mod:`.refresh`, :mod:`.finding`, :mod:`.edits` — the panel's live refresh, search
  and edit actions;
- :mod:`.panel` — :class:`Viewer`: wiring and the user's actions.
"""

from ..parsing import load_json as parse_json_value  # the one strict JSON reader, under its old name here
from .model import SORT_ORDERS
from .panel import Viewer, close_all_viewers, viewer
from .text import summarize

__all__ = ["Viewer", "viewer", "summarize", "parse_json_value", "close_all_viewers", "SORT_ORDERS"]
