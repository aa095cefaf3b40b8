"""Help (F1, or ? outside the prompt): every key, read from the live bindings so remaps show."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.cells import cell_len
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from vllm_tui.commands import help_rows
from vllm_tui.widgets.key_footer import KeyFooter

if TYPE_CHECKING:
    from vllm_tui.app import VllmTuiApp


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > VerticalScroll {
        width: 90;
        max-width: 100%;
        /* Down to its own footer: a shorter box left the prompt's bottom border showing just under
           its own, a doubled border. */
        height: 1fr;
        margin: 1 0 0 0;
        border: round $primary;
        border-title-color: $primary;
        background: $surface;
        padding: 0 1;
    }
    HelpScreen .help-section {
        height: auto;
        margin: 0 0 1 0;
    }
    HelpScreen .help-footer {
        color: $text-muted;
        height: auto;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,f1,q,question_mark", "dismiss", "Close", id="help.close"),
    ]

    def __init__(self, below: Screen[Any] | None = None) -> None:
        super().__init__()
        self._below = below
        """The screen help was opened over: its own keys are listed first."""

    def compose(self) -> ComposeResult:
        app: VllmTuiApp = self.app  # type: ignore[assignment]
        below = self._below
        # A screen names its keys' section with HELP_TITLE ("Settings"), beside its BINDINGS.
        here = f"{getattr(below, 'HELP_TITLE', 'This screen')} (this screen)" if below is not None else ""
        self.rows = help_rows(app, below, here)
        """What is shown: (section, keys, description, binding id) for each binding."""
        sections: dict[str, list[tuple[str, str, str]]] = {}
        for row in self.rows:
            sections.setdefault(row.section, []).append((row.keys, row.description, row.binding_id))
        # One width for every section's descriptions, so the ids line up down the list (capped: a
        # section with longer ones widens only itself, and a narrow terminal keeps room for ids).
        described = min(max((cell_len(row.description) for row in self.rows), default=0), 22)
        # The keys' column as wide as its longest entry: a fixed 16 cut the ids at 60 columns.
        keyed = max((cell_len(row.keys or "—") for row in self.rows), default=1)
        with VerticalScroll() as scroll:
            scroll.border_title = "Keys · esc closes"
            for name, rows in sections.items():
                table = Table.grid(padding=(0, 2))
                table.add_column(style="bold", min_width=keyed, no_wrap=True)
                table.add_column(min_width=described)
                table.add_column(style="dim")
                table.title = name
                table.title_justify = "left"
                table.title_style = "bold underline"
                for keys, description, binding_id in rows:
                    table.add_row(Text(keys or "—"), Text(description), Text(binding_id))
                yield Static(table, classes="help-section")
            yield Static(
                "Remap a key in config.yaml by the id in the right column, e.g.\n"
                "  keymap:\n    chat.regenerate: alt+r,f6\n"
                "In tmux, ctrl+b is the prefix: press it twice to send it through.",
                markup=False,
                classes="help-footer",
            )
        yield KeyFooter()  # its own: the chat's, below, offered keys that do nothing here
