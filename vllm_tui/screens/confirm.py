"""A yes/no question over any screen (leaving edited settings, deleting a profile or a message)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label

from vllm_tui.widgets.key_footer import KeyFooter

if TYPE_CHECKING:
    from textual.app import ComposeResult


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question answered with y or n (escape is no)."""

    CSS_PATH = "confirm.tcss"

    # The ids keep the settings screen's names, which a user's keymap may refer to.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes", id="settings.confirm_yes"),
        Binding("n,escape", "answer(False)", "No", id="settings.confirm_no"),
    ]
    """
    | Key(s) | Description |
    | :- | :- |
    | y | Yes |
    | n, escape | No |
    """

    def __init__(self, question: str) -> None:
        super().__init__()
        self._question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog"):
            yield Label(self._question, markup=False)
            yield Label("[b]y[/b] yes   [b]n[/b] no", classes="dim")
        yield KeyFooter()  # not the footer of the screen below, whose keys do nothing here

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
