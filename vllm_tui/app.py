"""The App: screens, global bindings, the engine's lifecycle and the bridge its events cross."""

from __future__ import annotations

import asyncio
import signal
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual.binding import Binding, BindingType
from textual.screen import ModalScreen

from vllm_tui.commands import ActionsProvider
from vllm_tui.config import AppConfig, Profile
from vllm_tui.engine.events import EngineReady
from vllm_tui.engine_bridge import EngineBridge, EngineEventsReady
from vllm_tui.heap import configure, settle
from vllm_tui.looks_and_keys import LooksAndKeys
from vllm_tui.profile_actions import ProfileActions
from vllm_tui.screens.chat import ChatScreen
from vllm_tui.screens.log_viewer import LogViewer
from vllm_tui.widgets.markdown_stream import warm_up

if TYPE_CHECKING:
    from collections.abc import Iterable

    from textual.app import SystemCommand
    from textual.screen import Screen

    from vllm_tui.engine.base import Engine
    from vllm_tui.engine.request import ChatRequest
    from vllm_tui.gpu import GpuPanelSnapshot, GpuSampler
    from vllm_tui.store import ChatStore


class VllmTuiApp(LooksAndKeys, ProfileActions):
    TITLE = "vllm-tui"
    # The chat screen is the default screen, whose own CSS_PATH Textual does not load: list it here.
    CSS_PATH = ["screens/chat.tcss"]
    COMMANDS = ProfileActions.COMMANDS | {ActionsProvider}

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
        # Priority: the prompt binds ctrl+c to copy; action_interrupt still copies a selection.
        Binding("ctrl+c", "interrupt", "Copy / stop / quit", id="app.interrupt", priority=True, show=False),
        # "?" only reaches here when the prompt is not focused: the prompt consumes printable keys.
        Binding("f1,question_mark", "help", "Help", id="app.help"),
        # Textual's own binding for the palette, named like every other key (its own says "palette").
        Binding(
            "ctrl+p",
            "command_palette",
            "Commands",
            id="app.command_palette",
            show=False,
            priority=True,
            tooltip="Every action by name",
        ),
        # Priority for the keys that open a screen: keys typed right behind them (one burst from
        # tmux send-keys, or a fast typist) then reach the new screen, not the prompt below it.
        # In the footer's order: settings and model before the log, which a new user needs less.
        Binding("f2", "settings", "Settings", id="app.settings", priority=True),
        Binding("f3", "pick_model", "Model", id="app.pick_model", priority=True),
        Binding("f5", "show_log", "Log", id="app.log", priority=True),
        # Off the footer (F1 and the palette list it): rarely wanted, and it took a fifth of 80 columns.
        Binding("ctrl+r", "restart_engine", "Restart engine", id="app.restart_engine", show=False),
        # The prompt (a TextArea) takes f6/f7 for selections, so temperature sits on alt+arrows.
        Binding("alt+down", "nudge_temperature(-0.1)", "Temp −", id="app.temperature_down", show=False),
        Binding("alt+up", "nudge_temperature(0.1)", "Temp +", id="app.temperature_up", show=False),
        Binding("f8", "scale_max_tokens(0.5)", "Max tokens ÷2", id="app.max_tokens_down", show=False),
        Binding("f9", "scale_max_tokens(2)", "Max tokens ×2", id="app.max_tokens_up", show=False),
    ]
    """
    | Key | Action |
    | :- | :- |
    | ctrl+q | Quit (the engine is shut down first; press twice to force). |
    | ctrl+c | Copy a selection; else stop the answer; else quit (twice within 2 s). |
    | f1, ? | Help: every key (? only outside the prompt). ctrl+p: every action by name. |
    | f5 | Open the log viewer. |
    | ctrl+r | Restart the engine. |
    | f2 | Settings (engine, sampling, profiles). |
    | f3 | Switch model or profile. |
    | alt+down, alt+up | Temperature −0.1 / +0.1 (next message, no reload). |
    | f8, f9 | Max tokens ÷2 / ×2. |
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
        config_path: Path | None = None,
        config_writable: bool = True,
    ) -> None:
        super().__init__()
        configure()
        self.config = config
        self.profile = profile
        self.log_path = log_path
        self.engine: Engine | None = engine
        self._owns_engine = engine is None
        self._config_messages = config_messages
        self._quitting = False
        self._stopping_engine: Engine | None = None
        """The engine `shutdown_engine` is ending, for a second ctrl+q to kill."""
        self._signal_loop: asyncio.AbstractEventLoop | None = None
        """The event loop the app runs in, for `terminal_gone` (called from any thread)."""
        self.bridge = EngineBridge(self)
        self.chat = ChatScreen()
        self.store: ChatStore | None = None
        self._store_path = store_path
        self.gpu_sampler = gpu_sampler
        self.config_path = config_path
        self.config_writable = config_writable
        self.kv_cache_tokens: int | None = None
        """What vLLM reported at the last load ("KV cache size: N tokens")."""

    def get_default_screen(self) -> ChatScreen:
        return self.chat

    # Textual's entries that the palette already lists under the app's own names ("Switch theme…",
    # which saves the choice; "Quit (ctrl+q)", which shuts the engine down first), and its "Keys"
    # panel, which F1's help replaces and which Esc does not close.
    _HIDDEN_SYSTEM_COMMANDS: ClassVar[frozenset[str]] = frozenset({"Theme", "Quit", "Keys"})

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Settings and the model picker edit the running profile: from over another screen (the
        # settings themselves, above all) they would stack a second editor holding stale values.
        # While the app shuts down, nothing may start an engine.
        if action in ("settings", "pick_model", "restart_engine"):
            return not self._quitting and (action == "restart_engine" or self.screen is self.chat)
        if action == "show_log":
            # F5 is a priority key: over a dialog it would open the log beneath the dialog's keys.
            return not isinstance(self.screen, ModalScreen)
        return True

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for command in super().get_system_commands(screen):
            if command.title not in self._HIDDEN_SYSTEM_COMMANDS:
                yield command

    def on_mount(self) -> None:
        self.setup_looks_and_keys()
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
        self._signal_loop = loop = asyncio.get_running_loop()
        # SIGINT too: in raw mode ctrl+c is a key, so a SIGINT comes from `kill -INT`, meaning quit.
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
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
        from vllm_tui.recent import load_open_chat

        # The chat shown when the app last ended (its unsent prompt is restored with it), else the
        # most recent one. "new": a new chat, nothing to load.
        last = load_open_chat()
        chat = self.store.chat(last) if isinstance(last, int) else None
        if chat is None and last != "new":
            chat = self.store.latest_chat()
        if chat is None:
            self.chat.chat_restored = True
            return
        chat_id = chat.id
        # After the first frame has reached the terminal: the screen and prompt come first.
        self.set_timer(0.1, lambda: self.run_worker(self.chat.load_chat(chat_id), group="load-chat"))

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
        """Check the profile first (off the UI loop: it reads config.json and asks NVML), then build
        and start the engine; a profile that cannot work is refused before any engine starts."""
        self._owns_engine = True
        self.run_worker(self._gate_and_start, thread=True, exclusive=True, group="engine-start")

    def _gate_and_start(self) -> None:
        from vllm_tui.engine.events import EngineFailed
        from vllm_tui.gpu.count import visible_gpu_count
        from vllm_tui.validation import validate_profile

        problems = [p for p in validate_profile(self.profile, visible_gpu_count()) if p.severity == "error"]
        # The model itself (path, tokenizer, weights, heads vs tensor parallel size, context length)
        # is checked by the engine's own pre-check and by vLLM, with more specific advice; here only
        # what would otherwise fail deep inside vLLM: GPU counts and values outside vLLM's ranges.
        engine_problems = [
            p
            for p in problems
            if not p.field.startswith("sampling.")
            and p.field not in ("engine.model", "engine.max_model_len")
            and (p.field != "engine.tensor_parallel_size" or "GPU" in p.message)
        ]
        if engine_problems:
            reason = "; ".join(f"{p.field.split('.')[-1]}: {p.message}" for p in engine_problems)
            advice = "Fix them in Settings (F2), then ctrl+r."
            self.bridge.emit(EngineFailed("Settings refused before loading", reason, advice))
            return
        engine = self.make_engine()
        self.call_from_thread(self._start_built, engine)

    def _start_built(self, engine: Engine) -> None:
        self.engine = engine
        engine.start()

    def engine_submit(self, request: ChatRequest) -> None:
        if self.engine is not None:
            self.engine.submit(request)

    def engine_stop(self, request_id: str) -> None:
        if self.engine is not None:
            self.engine.stop(request_id)

    def on_engine_events_ready(self, _message: EngineEventsReady) -> None:
        if not self.is_running:
            # Shutting down: the screens are being taken apart widget by widget, so the cards these
            # events would update may already be gone. The store was settled by action_quit.
            self.bridge.drain()
            return
        if not self.chat.mounted:
            # An attached engine can report before the chat screen has composed; try again shortly.
            self.set_timer(0.05, lambda: self.post_message(EngineEventsReady()))
            return
        for event in self.bridge.drain():
            if isinstance(event, EngineReady):
                self.kv_cache_tokens = event.kv_cache_tokens
                # Everything the app imports and builds is in place; no answer streams yet.
                self.call_after_refresh(settle)
                self.run_worker(warm_up, thread=True, group="warm-up", exit_on_error=False)
                if self.profile.kind != "remote":
                    # A path given with --model (or in config.yaml) that loaded is offered in F3's
                    # Recent list too, not only one picked there.
                    from vllm_tui.recent import remember

                    recent = partial(remember, self.profile.engine.model)
                    self.run_worker(recent, thread=True, group="recent", exit_on_error=False)
            self.chat.apply_engine_event(event)

    async def shutdown_engine(self) -> None:
        engine, self.engine = self.engine, None
        if engine is not None and self._owns_engine:
            self._stopping_engine = engine
            try:
                await asyncio.to_thread(engine.shutdown)
            finally:
                self._stopping_engine = None

    async def action_restart_engine(self) -> None:
        self.notify("Restarting the engine…", timeout=3)
        await self.replace_engine(None)

    # --- leaving ------------------------------------------------------------------------------

    async def action_quit(self) -> None:
        self._save_before_leaving()
        if self._quitting:
            self.run_worker(self._force_quit(), group="force-quit", exclusive=True)
            return
        self._quitting = True
        if (self.engine is not None or self._stopping_engine is not None) and self._owns_engine:
            self.notify("Shutting down the engine… (ctrl+q again to force)", timeout=30)
            self.chat.show_quitting()
        # In a worker: awaited here, it would hold the app's message queue for the seconds vLLM takes
        # to let go, so neither the notice above nor a second ctrl+q could get through.
        self.run_worker(self._shut_down_then_exit(), group="quit", exclusive=True)

    async def _shut_down_then_exit(self) -> None:
        try:
            await self.shutdown_engine()
            while self._stopping_engine is not None:
                await asyncio.sleep(0.1)  # a restart or switch was stopping the engine already
        finally:
            self.exit()

    async def _force_quit(self) -> None:
        """A second ctrl+q (or signal): end the engine's processes now (SIGTERM, SIGKILL after 2 s)
        instead of waiting for vLLM's orderly shutdown, then leave."""
        engine = self._stopping_engine or self.engine
        kill = getattr(engine, "kill", None) if self._owns_engine else None
        try:
            if kill is not None:
                await asyncio.to_thread(kill)
        finally:
            self.exit()

    def _save_before_leaving(self) -> None:
        """What no exit may lose: the answer being streamed, and the prompt typed but not sent (it is
        back in the prompt at the next start)."""
        self._save_partial_answer()
        if self.chat.mounted:
            self.chat.save_draft(now=True)

    def _save_partial_answer(self) -> None:
        """Save the answer being streamed as it stands: the engine's last events may never be drawn
        (a forced quit, SIGHUP), and the store must not depend on them. A later "abort" event, if one
        is applied before the app exits, only refines this (state "stopped", same text)."""
        from vllm_tui.store import StoreError

        message = self.chat.current
        if message is None or not message.streaming or message.stored_id is None or not self.store:
            return
        try:
            self.store.finish_answer(
                message.stored_id,
                "interrupted",
                message.stats,
                content=message.answer_text,
                thinking=message.thinking_text,
            )
        except StoreError:
            pass  # the periodic save has kept all but the last second; nothing else to do here

    async def action_interrupt(self) -> None:
        """ctrl+c as terminal users expect it: copy a selection if there is one, else stop the
        answer being written, else quit when pressed twice within 2 s."""
        import time

        focused = self.focused
        selected = getattr(focused, "selected_text", "") if focused is not None else ""
        if not selected:
            try:
                selected = self.screen.get_selected_text() or ""
            except Exception:  # noqa: BLE001 - no selection support on this screen
                selected = ""
        if selected:
            self.copy_to_clipboard(selected)
            return
        message = self.chat.current
        now = time.monotonic()
        recently = now - getattr(self, "_interrupted_at", 0.0) < 2.0
        if message is not None and message.streaming and not recently and self.screen is self.chat:
            self._interrupted_at = now
            self.chat.action_stop()
            self.notify("Stopped · ctrl+c again quits", timeout=2)
            return
        if not recently:
            # Idle: a stray ctrl+c must not end the session, so quitting takes a second press.
            self._interrupted_at = now
            self.notify("Press ctrl+c again to quit", timeout=2)
            return
        await self.action_quit()

    def _on_signal(self, sig: int) -> None:
        if sig == signal.SIGHUP:
            # The terminal is gone (SSH link dropped): nothing more can be drawn, so save and leave at
            # once; cli.main ends the engine processes after the app has exited.
            self._quitting = True
            self._save_before_leaving()
            self.exit()
            return
        if self._quitting:
            # A second SIGTERM/SIGINT: stop waiting for a graceful shutdown.
            self.run_worker(self._force_quit(), group="force-quit", exclusive=True)
            return
        self.run_worker(self.action_quit(), exclusive=True, group="quit")

    def terminal_gone(self) -> None:
        """From any thread: writing to the terminal failed, so it is gone. Leave as on SIGHUP, which
        may come later (it travels through the login shell) or never (no controlling terminal)."""
        loop = self._signal_loop
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(self._on_signal, signal.SIGHUP)
        except RuntimeError:
            pass  # the loop has closed: the app has already left

    def action_show_log(self) -> None:
        if isinstance(self.screen, LogViewer):
            self.pop_screen()  # F5 closes it again (the key is the app's, with priority)
        else:
            self.push_screen(LogViewer(self.log_path))
