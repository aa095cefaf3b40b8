"""The App's settings, profile and model actions (a mixin, to keep app.py to the app's spine).

Sampling changes apply to the next message; engine changes shut the old engine down, wait for its
GPU memory to come back and build the new one, with progress on the status line.
"""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import App

if TYPE_CHECKING:
    from vllm_tui.config import AppConfig, Profile
    from vllm_tui.engine.base import Engine
    from vllm_tui.gpu import GpuSampler
    from vllm_tui.screens.chat import ChatScreen
    from vllm_tui.screens.model_picker import PickedModel


class ProfileActions(App[None]):
    """Needs from the App: the attributes below, `shutdown_engine()` and `start_engine()`."""

    config: AppConfig
    profile: Profile
    chat: ChatScreen
    engine: Engine | None
    gpu_sampler: GpuSampler | None
    kv_cache_tokens: int | None
    config_path: Path | None
    config_writable: bool
    _quitting: bool

    async def shutdown_engine(self) -> None:
        raise NotImplementedError

    def start_engine(self) -> None:
        raise NotImplementedError

    def _gpu_totals(self) -> list[int] | None:
        snap = self.gpu_sampler.latest if self.gpu_sampler is not None else None
        if snap is None or not snap.gpus:
            return None
        totals = [g.memory_total for g in snap.gpus if isinstance(g.memory_total, int)]
        return totals or None

    def action_settings(self) -> None:
        from vllm_tui.screens.settings import SettingsResult, SettingsScreen

        name = self.profile.name
        if name not in self.config.profiles and name not in self.config.deleted_profiles:
            self.config.profiles[name] = copy.deepcopy(self.profile)

        def done(result: SettingsResult | None) -> None:
            if result is None:
                return
            if result.deleted:
                self.config.profiles.pop(result.deleted, None)
                if result.deleted not in self.config.deleted_profiles:
                    self.config.deleted_profiles.append(result.deleted)
                if self.config.default_profile == result.deleted:
                    self.config.default_profile = next(iter(self.config.profiles))
                self._save_config(f"Profile {result.deleted} deleted")
                self.chat.refresh_sampling()  # the status line no longer names it
                return
            if result.saved_as:
                self.config.profiles[result.saved_as] = copy.deepcopy(result.profile)
                self._save_config(f"Saved as profile {result.saved_as}")
            if result.engine_changed:
                # Checked as F3's choice is: a mistyped model must not cost the loaded one.
                self.run_worker(self.switch_to(result.profile, retry="F2 to change it"), group="profile")
            else:
                self.run_worker(self.apply_profile(result.profile, reload=False), group="profile")

        screen = SettingsScreen(
            self.config,
            self.profile.name,
            self._gpu_totals(),
            vllm_kv_tokens=self.kv_cache_tokens,
            running=self.profile,
        )
        self.push_screen(screen, done)

    def action_pick_model(self) -> None:
        from vllm_tui.recent import load_recent
        from vllm_tui.screens.model_picker import ModelPickerScreen

        def done(picked: PickedModel | None) -> None:
            if picked is None:
                return
            if self.chat.engine_ready and picked.current:
                # Reloading what runs would cost the whole load (minutes for a large model).
                self.notify("That is what runs now. ctrl+r restarts the engine.", timeout=4)
                return
            if picked.profile_name:
                profile = copy.deepcopy(self.config.profiles[picked.profile_name])
            elif picked.model:
                profile = copy.deepcopy(self.profile)
                profile.engine.model = picked.model
                if not picked.on_server:
                    profile.kind = "local"  # a path or a cached model, picked under a remote profile
            else:
                return
            self.run_worker(self.switch_to(profile), group="profile")

        # A remote engine's models come from the server's /v1/models (listed when it connected).
        served = list(getattr(self.engine, "models", None) or []) if self.profile.kind == "remote" else []
        screen = ModelPickerScreen(
            self.config.profiles,
            load_recent(),
            server_models=served,
            running=self.profile,
        )
        self.push_screen(screen, done)

    async def switch_to(self, profile: Profile, retry: str = "F3 to choose again") -> None:
        """F3's choice, or F2's engine change. What fails at once (a path that is not there, a Hub
        id not cached while offline) is found before the running engine is stopped for it: a reload
        costs minutes."""
        if profile.kind != "remote" and self.chat.engine_ready:
            from vllm_tui.engine.preflight import preflight

            problem = await asyncio.to_thread(preflight, profile.engine)
            if problem is not None:
                title, reason, _advice = problem
                self.notify(
                    f"{reason}\n{self.profile.engine.model} stays loaded. {retry}.",
                    title=title,
                    severity="error",
                    timeout=10,
                )
                return
        await self.apply_profile(profile, reload=True)

    async def apply_profile(self, profile: Profile, *, reload: bool) -> None:
        self.profile = profile
        self.chat.refresh_sampling()
        if not reload:
            self.notify("Applied: the next message uses the new settings.", timeout=3)
            return
        from vllm_tui.recent import remember

        if profile.kind == "remote":
            self.notify(f"Connecting to {profile.server_url}…", timeout=4)
        else:
            remember(profile.engine.model)
            self.notify(f"Loading {profile.engine.model}…", timeout=4)
        await self.replace_engine(profile)

    async def replace_engine(self, profile: Profile | None) -> None:
        """Stop the running engine and start `profile`'s (None: the session's own again, ctrl+r).
        A switch and a restart are the same steps, so both keep a half-written answer and both wait
        for the old engine's GPU memory (a restart that does not can fail vLLM's memory check)."""
        message = self.chat.current
        if message is not None and message.streaming:
            # Keep what was streamed: stopping the engine ends the request without its last events.
            self.chat._close_turn("the engine was restarted" if profile is None else "the model was switched")
        self.chat.engine_ready = False
        self.chat.show_stopping(profile)
        await self.shutdown_engine()
        if self._quitting:
            return  # ctrl+q came while the old engine stopped: no new one
        await self._wait_for_gpu_memory()
        profile = profile or self.profile
        self.kv_cache_tokens = None  # the old engine's figure; the new one reports its own when ready
        self.chat.show_engine(profile)
        if self.gpu_sampler is not None:
            from vllm_tui.gpu import EngineDevices

            devices = (
                EngineDevices.nothing()
                if profile.kind == "remote"
                else EngineDevices.from_env(limit=profile.engine.tensor_parallel_size)
            )
            self.gpu_sampler.set_engine_devices(devices)
        self.start_engine()

    async def _wait_for_gpu_memory(self, timeout: float = 20.0) -> None:
        """After a shutdown, give the driver a moment to hand the old engine's memory back, so the
        new engine's memory profiling does not count it as taken."""
        if self.gpu_sampler is None or self._gpu_totals() is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            snap = self.gpu_sampler.latest
            if snap is None or not any(g.engine_active for g in snap.gpus):
                return
            await asyncio.sleep(0.5)

    def action_nudge_temperature(self, delta: float) -> None:
        s = self.profile.sampling
        s.temperature = round(min(2.0, max(0.0, s.temperature + delta)), 2)
        # The status line shows the new value in place; a toast per press stacked up over the chat.
        self.chat.refresh_sampling()

    def action_scale_max_tokens(self, factor: float) -> None:
        s = self.profile.sampling
        s.max_tokens = int(min(131072, max(16, s.max_tokens * factor)))
        self.chat.refresh_sampling()

    def _save_config(self, done: str) -> None:
        from vllm_tui.config import save_config

        if not self.config_writable:
            self.notify(
                "Not saved: your config.yaml could not be read at start, and it is never overwritten. "
                "Fix it and restart.",
                severity="error",
                timeout=8,
            )
            return
        try:
            path = save_config(self.config, self.config_path)
        except OSError as exc:
            self.notify(f"Could not save the config: {exc}", severity="error")
            return
        self.notify(f"{done} ({path})", timeout=4)
