"""The viewer's layout: every widget of the panel, named and classed, and nothing else.

:class:`ViewerLayout` is an ``ipywidgets.VBox`` holding a header (title, status
line, Refresh), three columns (groups, items of the selected group, the selected
value with its Save / Revert / Delete / History), the item's *History* box (hidden
until asked), *Add an item* with *Clear group…*, and the *Trigger output* area. The
History box comes right after the three columns, so it follows its item at any width:
below ~900 px the columns wrap (the value column last) and *Add an item*, in the value
column before, came between the item and its History. Each widget gets a
stable CSS class ``motia-nb-<part>`` so the browser test (and user CSS) can find it.
Behaviour lives in :mod:`.panel`.
"""

from __future__ import annotations

import ipywidgets as widgets

from .item_history import HistoryWidgets
from .model import PAGE_SIZES, SORT_ORDERS

__all__ = ["ViewerLayout"]

_CSS = """
<style>
.motia-nb-viewer .motia-nb-mono select, .motia-nb-viewer .motia-nb-mono textarea {
  font-family: var(--jp-code-font-family, monospace); font-size: 12px; white-space: pre;
}
.motia-nb-viewer .motia-nb-heading { font-weight: 600; }
.motia-nb-viewer .motia-nb-badge {
  font-size: 11px; padding: 0 5px; border-radius: 8px; white-space: nowrap;
  background: var(--jp-brand-color3, #bbdefb); color: var(--jp-ui-font-color1, #000);
}
/* one title line and one status line: long text is cut with an ellipsis (the status's whole text is its tooltip) */
.motia-nb-viewer .motia-nb-status, .motia-nb-viewer .motia-nb-status .widget-html-content,
.motia-nb-viewer .motia-nb-title, .motia-nb-viewer .motia-nb-title .widget-html-content {
  min-width: 0; overflow: hidden; white-space: nowrap; text-overflow: ellipsis;
}
.motia-nb-viewer .motia-nb-page, .motia-nb-viewer .motia-nb-page .widget-html-content { white-space: nowrap; }
/* the item history, under the three columns: one line per cell but the value, which wraps */
.motia-nb-viewer table.motia-nb-history-table { border-collapse: collapse; width: 100%; }
.motia-nb-viewer table.motia-nb-history-table th, .motia-nb-viewer table.motia-nb-history-table td {
  text-align: left; vertical-align: top; padding: 1px 8px 1px 0; white-space: nowrap;
}
.motia-nb-viewer table.motia-nb-history-table td:last-child { white-space: normal; overflow-wrap: anywhere; width: 100%; }
/* in a narrow panel the value keeps some room (the table scrolls sideways), never a letter a line */
.motia-nb-viewer table.motia-nb-history-table td:last-child code { display: inline-block; min-width: 10ch; }
/* buttons never shrink into "Yes, …"; a row that does not fit wraps */
.motia-nb-viewer .motia-nb-actions button { flex: 0 0 auto; }
</style>
"""


class ViewerLayout(widgets.VBox):
    """The panel's widgets (no behaviour)."""

    def __init__(self, page_size: int) -> None:
        self._build(page_size)
        # the item history under the three columns, as wide as the panel (in the value column, its table was
        # cut), then adding an item: the history follows its item when the columns wrap (narrow panels)
        super().__init__(children=[self._css, self._header, self._body, self.history.box, self._add_box,
                                   self._output_box])  # fmt: skip
        self.add_class("motia-nb-viewer")

    def _build(self, page_size: int) -> None:
        W = widgets
        self._css = W.HTML(_CSS)
        self.title = W.HTML(layout=W.Layout(flex="0 1 auto", min_width="0", overflow="hidden"))
        self.refresh_button = W.Button(description="Refresh", icon="refresh", tooltip="reload from the store",
                                       layout=W.Layout(width="auto", flex="0 0 auto"))
        self.status = W.HTML(layout=W.Layout(flex="1 1 0%", min_width="0", height="28px", overflow="hidden"))
        self._header = W.HBox([self.title, self.status, self.refresh_button],
                              layout=W.Layout(align_items="center", justify_content="space-between"))

        # groups column
        self.group_filter = W.Text(placeholder="filter groups", layout=W.Layout(width="auto"))
        self.groups = W.Select(options=[], rows=16, layout=W.Layout(width="auto"))
        self.groups_summary = W.HTML()
        groups_col = W.VBox(
            [W.HTML("<span class='motia-nb-heading'>Groups</span>"), self.group_filter, self.groups,
             self.groups_summary],
            layout=W.Layout(flex="1 1 170px", min_width="170px", padding="0 6px 0 0"),
        )

        # items column
        self.sort = W.Dropdown(options=SORT_ORDERS, value="insertion", description="sort",
                               layout=W.Layout(width="190px"), style={"description_width": "32px"})
        sizes = sorted(set(PAGE_SIZES) | {page_size})
        self.page_size = W.Dropdown(options=sizes, value=page_size, description="per page",
                                    layout=W.Layout(width="150px"), style={"description_width": "60px"})
        self.items = W.Select(options=[], rows=16, layout=W.Layout(width="auto"))
        self.items.add_class("motia-nb-mono")
        self.first_button = W.Button(icon="angle-double-left", tooltip="first page", layout=W.Layout(width="36px"))
        self.prev_button = W.Button(icon="angle-left", tooltip="previous page", layout=W.Layout(width="36px"))
        self.next_button = W.Button(icon="angle-right", tooltip="next page", layout=W.Layout(width="36px"))
        self.last_button = W.Button(icon="angle-double-right", tooltip="last page", layout=W.Layout(width="36px"))
        self.page_label = W.HTML()
        self.items_heading = W.HTML()
        self.goto_key = W.Text(placeholder="find key (prefix or part), Enter", continuous_update=False,
                               layout=W.Layout(flex="1 1 auto", width="auto"))
        self.goto_button = W.Button(description="Go", icon="search", tooltip="show the page holding this key",
                                    layout=W.Layout(width="auto", flex="0 0 auto"))
        self.found = W.Select(options=[], rows=5, layout=W.Layout(width="auto", display="none"))
        self.found.add_class("motia-nb-mono")
        self.found_summary = W.HTML()
        items_col = W.VBox(
            [
                self.items_heading,
                W.HBox([self.sort, self.page_size], layout=W.Layout(flex_flow="row wrap")),
                W.HBox([self.goto_key, self.goto_button]),
                self.found_summary,
                self.found,
                self.items,
                W.HBox([self.first_button, self.prev_button, self.page_label, self.next_button, self.last_button],
                       layout=W.Layout(align_items="center", flex_flow="row wrap")),
            ],
            layout=W.Layout(flex="2 1 300px", min_width="300px", padding="0 6px 0 0"),
        )

        # value column
        self.key_label = W.HTML()
        self.value_text = W.Textarea(rows=14, layout=W.Layout(width="auto"),
                                     placeholder="select an item to see its value")
        self.value_text.add_class("motia-nb-mono")
        self.save_button = W.Button(description="Save", icon="save", button_style="primary",
                                    tooltip="write the edited value", layout=W.Layout(width="auto"))
        self.revert_button = W.Button(description="Revert", icon="undo", tooltip="reload the stored value",
                                      layout=W.Layout(width="auto"))
        self.delete_button = W.Button(description="Delete", icon="trash", button_style="warning",
                                      tooltip="delete this item", layout=W.Layout(width="auto"))
        self.new_group = W.Text(placeholder="group", layout=W.Layout(width="30%"))
        self.new_key = W.Text(placeholder="new key", layout=W.Layout(width="30%"))
        self.add_button = W.Button(description="Add", icon="plus", tooltip="add a new item",
                                   layout=W.Layout(width="auto"))
        self.new_value = W.Textarea(placeholder='value as JSON, e.g. {"status": "new"}', rows=3,
                                    layout=W.Layout(width="auto"))
        self.new_value.add_class("motia-nb-mono")
        self.clear_button = W.Button(description="Clear group…", icon="eraser", button_style="danger",
                                     tooltip="remove every item of the group", layout=W.Layout(width="auto"))
        self.confirm_label = W.HTML()
        self.confirm_clear_button = W.Button(description="Yes, clear", button_style="danger",
                                             layout=W.Layout(width="auto"))
        self.cancel_clear_button = W.Button(description="Cancel", layout=W.Layout(width="auto"))
        self.confirm_box = W.VBox([self.confirm_label, _actions(self.confirm_clear_button, self.cancel_clear_button)],
                                  layout=W.Layout(display="none"))
        self.delete_label = W.HTML()
        self.confirm_delete_button = W.Button(description="Yes, delete", button_style="warning",
                                              layout=W.Layout(width="auto"))
        self.cancel_delete_button = W.Button(description="Cancel", layout=W.Layout(width="auto"))
        self.delete_box = W.VBox([self.delete_label, _actions(self.confirm_delete_button, self.cancel_delete_button)],
                                 layout=W.Layout(display="none"))
        self.history = HistoryWidgets()  # the selected item's changes (item_history.py)
        self._add_heading = W.HTML("<span class='motia-nb-heading'>Add an item</span>")
        value_col = W.VBox(
            [
                self.key_label,
                self.value_text,
                _actions(self.save_button, self.revert_button, self.delete_button, self.history.button),
                self.delete_box,
            ],
            layout=W.Layout(flex="1.5 1 260px", min_width="260px"),
        )
        # adding an item (and clearing the group): under the item's history, at most as wide as a value column
        self._add_box = W.VBox(
            [
                self._add_heading,
                W.HBox([self.new_group, self.new_key, self.add_button]),
                self.new_value,
                _actions(self.clear_button),
                self.confirm_box,
            ],
            layout=W.Layout(max_width="640px", margin="6px 0 0 0"),
        )
        self._body = W.HBox([groups_col, items_col, value_col], layout=W.Layout(width="100%", flex_flow="row wrap"))

        # trigger output
        self.output = W.Output(layout=W.Layout(border="1px solid var(--jp-border-color2, #ccc)",
                                               max_height="220px", overflow="auto", padding="2px 6px"))
        self.clear_output_button = W.Button(description="clear", tooltip="clear the trigger output",
                                            layout=W.Layout(width="auto", flex="0 0 auto"))  # never "cl…"
        self._output_box = W.VBox([
            W.HBox([W.HTML("<span class='motia-nb-heading'>Trigger output</span> "
                           "<small>(what steps triggered by the viewer's edits print)</small>"),
                    self.clear_output_button], layout=W.Layout(align_items="center")),
            self.output,
        ])

        # stable class names: the browser test (and user CSS) can find each part
        for w, name in (
            (self.group_filter, "filter"), (self.groups, "groups"), (self.items, "items"), (self.sort, "sort"),
            (self.value_text, "value"), (self.save_button, "save"), (self.revert_button, "revert"),
            (self.delete_button, "delete"), (self.new_group, "new-group"), (self.new_key, "new-key"),
            (self.new_value, "new-value"), (self.add_button, "add"), (self.clear_button, "clear"),
            (self.confirm_clear_button, "confirm-clear"), (self.cancel_clear_button, "cancel-clear"),
            (self.refresh_button, "refresh"), (self.status, "status"), (self.output, "output"),
            (self.page_label, "page"), (self.next_button, "next"), (self.prev_button, "prev"),
            (self.first_button, "first"), (self.last_button, "last"), (self.title, "title"),
            (self.goto_key, "goto-key"), (self.goto_button, "goto"), (self.confirm_delete_button, "confirm-delete"),
            (self.cancel_delete_button, "cancel-delete"), (self.confirm_box, "confirm-clear-box"),
            (self.delete_box, "confirm-delete-box"), (self.found, "found"), (self.found_summary, "found-summary"),
            (self._add_heading, "add-heading"),
        ):
            w.add_class(f"motia-nb-{name}")


def _actions(*buttons: widgets.Button) -> widgets.HBox:
    """A row of buttons that keep their whole labels and wrap when the column is narrow."""
    row = widgets.HBox(list(buttons), layout=widgets.Layout(flex_flow="row wrap", align_items="center"))
    row.add_class("motia-nb-actions")
    return row
