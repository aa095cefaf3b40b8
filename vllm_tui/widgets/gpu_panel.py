"""The GPU panel: one card per GPU, or one card saying why there are none.

It draws `GpuPanelSnapshot`s made by `vllm_tui.gpu.GpuSampler` and never calls NVML itself. Wire it as
`GpuSampler(callback=panel.post_snapshot)`: the sampler thread posts, the UI thread draws the latest.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import var
from textual.widgets import Label

from vllm_tui.gpu.snapshot import STARTING, GpuPanelSnapshot, PanelStatus
from vllm_tui.widgets.gpu_card import GpuCard


class GpuNotice(Vertical):
    """The card shown instead of GPU cards: no driver, no library, no GPU, or still starting."""

    DEFAULT_CSS = """
    GpuNotice {
        height: auto;
        border: round $warning;
        border-title-color: $warning;
        padding: 0 1;
    }
    GpuNotice.-starting {
        border: round $panel-lighten-2;
        border-title-color: $text-muted;
    }
    GpuNotice.-error {
        border: round $error;
        border-title-color: $error;
    }
    GpuNotice #gpu-notice-message {
        width: 1fr;
        color: $text-muted;
    }
    """

    def compose(self) -> ComposeResult:
        yield Label(id="gpu-notice-message")

    def show(self, snapshot: GpuPanelSnapshot) -> None:
        self.border_title = snapshot.title
        self.set_class(snapshot.status is PanelStatus.STARTING, "-starting")
        self.set_class(snapshot.status is PanelStatus.ERROR, "-error")
        self.query_one("#gpu-notice-message", Label).update(snapshot.message)


class GpuPanel(Vertical):
    """All GPUs, stacked. Set `snapshot` (or call `update_snapshot`); only what changed is redrawn."""

    DEFAULT_CSS = """
    GpuPanel {
        height: auto;
    }
    """

    snapshot: var[GpuPanelSnapshot] = var(STARTING)
    """What the panel shows; equal snapshots are ignored by the reactive itself."""

    class SnapshotArrived(Message, bubble=False):
        """A snapshot posted from the sampler thread. A newer one supersedes any not yet handled."""

        def __init__(self, snapshot: GpuPanelSnapshot) -> None:
            super().__init__()
            self.snapshot = snapshot

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, GpuPanel.SnapshotArrived)

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, classes=classes)
        # Our own list, not a DOM query: removed cards linger in the DOM until Textual prunes them.
        self._cards: list[GpuCard] = []

    def compose(self) -> ComposeResult:
        notice = GpuNotice()
        notice.display = False
        yield notice

    def on_mount(self) -> None:
        self._sync(self.snapshot)

    def update_snapshot(self, snapshot: GpuPanelSnapshot) -> None:
        """Show `snapshot`. Call on the UI thread; from other threads use `post_snapshot`."""
        self.snapshot = snapshot

    def post_snapshot(self, snapshot: GpuPanelSnapshot) -> None:
        """Thread-safe and non-blocking: hand `snapshot` to the UI thread. Fits `GpuSampler(callback=...)`."""
        try:
            self.post_message(self.SnapshotArrived(snapshot))
        except RuntimeError:
            # Textual's NoActiveAppError (a RuntimeError from a private module): the panel is not mounted
            # yet, or the app has closed while sampling goes on. Either way there is nothing to draw.
            pass

    @on(SnapshotArrived)
    def _snapshot_arrived(self, message: SnapshotArrived) -> None:
        message.stop()
        self.snapshot = message.snapshot

    def watch_snapshot(self, snapshot: GpuPanelSnapshot) -> None:
        if self.is_mounted:
            self._sync(snapshot)

    @property
    def cards(self) -> list[GpuCard]:
        """The GPU cards in display order (empty while the notice shows)."""
        return list(self._cards)

    def _sync(self, snapshot: GpuPanelSnapshot) -> None:
        notice = self.query_one(GpuNotice)
        cards = self._cards
        if not snapshot.ok or not snapshot.gpus:
            self._drop_cards()
            notice.show(snapshot)
            notice.display = True
            return
        notice.display = False
        capacity = snapshot.history_capacity or None
        if [card.snapshot.key for card in cards] == [gpu.key for gpu in snapshot.gpus]:
            for card, gpu in zip(cards, snapshot.gpus, strict=True):
                card.update_snapshot(gpu, capacity)
            return
        # The set of GPUs changed (first sample, or a driver restart renumbered them): rebuild the cards.
        self._drop_cards()
        self._cards = [GpuCard(gpu, history_capacity=capacity or 300) for gpu in snapshot.gpus]
        self.mount_all(self._cards)

    def _drop_cards(self) -> None:
        for card in self._cards:
            card.remove()
        self._cards = []
