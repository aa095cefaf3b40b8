"""The App: screens, global bindings, the engine's lifecycle and the bridge its events cross."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual.app import App
from textual.binding import Binding, BindingType

from vllm_tui.config import AppConfig, Profile
from vllm_tui.engine_bridge import EngineBridge, EngineEventsReady
from vllm_tui.screens.chat import ChatScreen
from vllm_tui.screens.log_viewer import LogViewer

if TYPE_CHECKING:
    from vllm_tui.engine.base import Engine
    from vllm_tui.engine.request import ChatRequest
    from vllm_tui.gpu import GpuPanelSnapshot, GpuSampler
    from vllm_tui.store import ChatStore


class VllmTuiApp(App[None]):
    TITLE = "vllm-tui"
    # The chat screen is the default screen, whose own CSS_PATH Textual does not load: list it here.
    CSS_PATH = ["screens/chat.tcss"]

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
        Binding("f5", "show_log", "Log", id="app.log"),
        Binding("ctrl+r", "restart_engine", "Restart engine", id="app.restart_engine"),
    ]
    """
    | Key | Action |
    | :- | :- |
    | ctrl+q | Quit (the engine is shut down first; press twice to force). |
    | f5 | Open the log viewer. |
    | ctrl+r | Restart the engine. |
    """

    def __init__(
        self,
        config: AppConfig,
        profile: Profile,
        log_path: Path,
        *,
        engine: Engine | None = None,
        config_messages: tuple[str, ...] = (),
        store_path: Path | None = None,
        gpu_sampler: GpuSampler | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.profile = profile
        self.log_path = log_path
        self.engine: Engine | None = engine
        self._owns_engine = engine is None
        self._config_messages = config_messages
        self._quitting = False
        self.bridge = EngineBridge(self)
        self.chat = ChatScreen()
        self.store: ChatStore | None = None
        self._store_path = store_path
        self.gpu_sampler = gpu_sampler

    def get_default_screen(self) -> ChatScreen:
        return self.chat

    def on_mount(self) -> None:
        for text in self._config_messages:
            self.notify(text, severity="warning", timeout=10)
        self._open_store()
        self._start_gpu_sampler()
        if self.engine is None:
            # Draw the first frame before anything else; the engine loads in its own thread.
            self.call_after_refresh(self.start_engine)
        else:
            attach = getattr(self.engine, "attach", None)
            if attach is not None:
                attach(self.bridge.emit)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGHUP):
            try:
                loop.add_signal_handler(sig, self._on_signal, sig)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread (tests)
                pass

    def _open_store(self) -> None:
        from vllm_tui.store import ChatStore, StoreError

        try:
            self.store = ChatStore.open(self._store_path)
        except (StoreError, OSError) as exc:
            self.notify(f"Chats will not be saved: {exc}", severity="error", timeout=10)
            return
        latest = self.store.latest_chat()
        if latest is not None:
            self.call_after_refresh(self.chat.load_chat, latest.id)

    def _start_gpu_sampler(self) -> None:
        import os

        from vllm_tui.gpu import EngineDevices, GpuSampler

        if self.gpu_sampler is None:
            devices = EngineDevices.from_env(limit=self.profile.engine.tensor_parallel_size)
            if self.profile.kind == "remote":
                devices = EngineDevices.nothing()
            self.gpu_sampler = GpuSampler(
                self._gpu_snapshot,
                engine_root_pid=os.getpid(),
                engine_devices=devices,
                interval=self.config.ui.gpu_poll_seconds,
            )
        self.gpu_sampler.start()

    def _gpu_snapshot(self, snapshot: GpuPanelSnapshot) -> None:
        """On the sampler thread: hand the snapshot to the panel (a thread-safe post)."""
        panel = self.chat.gpu_panel_ref
        if panel is not None:
            panel.post_snapshot(snapshot)

    def on_unmount(self) -> None:
        if self.gpu_sampler is not None:
            self.gpu_sampler.stop(timeout=2.0)
        if self.store is not None:
            self.store.close()

    # --- engine lifecycle -------------------------------------------------------------------

    def make_engine(self) -> Engine:
        if self.profile.kind == "remote":
            from vllm_tui.engine.remote import RemoteEngine

            return RemoteEngine(self.profile, self.bridge.emit)
        from vllm_tui.engine.local import LocalEngine

        return LocalEngine(self.profile.engine, self.bridge.emit, self.log_path)

    def start_engine(self) -> None:
        self.engine = self.make_engine()
        self._owns_engine = True
        self.engine.start()

    def engine_submit(self, request: ChatRequest) -> None:
        if self.engine is not None:
            self.engine.submit(request)

    def engine_stop(self, request_id: str) -> None:
        if self.engine is not None:
            self.engine.stop(request_id)

    def on_engine_events_ready(self, _message: EngineEventsReady) -> None:
        if not self.chat.mounted:
            # An attached engine can report before the chat screen has composed; try again shortly.
            self.set_timer(0.05, lambda: self.post_message(EngineEventsReady()))
            return
        for event in self.bridge.drain():
            self.chat.apply_engine_event(event)

    async def shutdown_engine(self) -> None:
        engine, self.engine = self.engine, None
        if engine is not None and self._owns_engine:
            await asyncio.to_thread(engine.shutdown)

    async def action_restart_engine(self) -> None:
        self.notify("Restarting the engine…", timeout=3)
        await self.shutdown_engine()
        self.chat.engine_ready = False
        self.start_engine()

    # --- leaving ------------------------------------------------------------------------------

    async def action_quit(self) -> None:
        if self._quitting:
            self.exit()  # second press: leave now; the exit hook still ends the engine processes
            return
        self._quitting = True
        if self.engine is not None and self._owns_engine:
            self.notify("Shutting down the engine… (ctrl+q again to force)", timeout=30)
        await self.shutdown_engine()
        self.exit()

    def _on_signal(self, sig: int) -> None:
        if sig == signal.SIGHUP:
            # The terminal is gone (SSH link dropped): nothing more can be drawn, so leave quietly.
            self._quitting = True
        self.run_worker(self.action_quit(), exclusive=True, group="quit")

    def action_show_log(self) -> None:
        if not isinstance(self.screen, LogViewer):
            self.push_screen(LogViewer(self.log_path))
