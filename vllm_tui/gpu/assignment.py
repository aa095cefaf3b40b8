"""Which GPUs belong to the engine: CUDA_VISIBLE_DEVICES for where it may run, pids for where it does."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from vllm_tui.gpu.na import MaybeStr

_INDEX = re.compile(r"^\d+$")


@dataclass(frozen=True)
class EngineDevices:
    """The engine's share of the machine's GPUs, as CUDA will enumerate them for it.

    Integer entries are CUDA ordinals. They match NVML indices when CUDA_DEVICE_ORDER=PCI_BUS_ID (or on
    machines of identical cards, where CUDA's fastest-first order is the PCI order); UUIDs always match.
    """

    entries: tuple[str, ...] | None = None
    """CUDA_VISIBLE_DEVICES split and cleaned; None means the variable is unset, so every GPU is visible."""
    limit: int | None = None
    """The engine uses only the first `limit` visible GPUs (tensor × pipeline parallel size)."""

    @classmethod
    def parse(cls, value: str | None, limit: int | None = None) -> EngineDevices:
        """Read a CUDA_VISIBLE_DEVICES value the way the CUDA runtime does."""
        if value is None:
            return cls(None, limit)
        entries: list[str] = []
        for raw in value.split(","):
            entry = raw.strip()
            # CUDA stops at the first entry it cannot read: "0,-1,1" exposes only GPU 0.
            if not (_INDEX.match(entry) or entry.startswith(("GPU-", "MIG-"))):
                break
            if entry not in entries:
                entries.append(entry)
        return cls(tuple(entries), limit)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, limit: int | None = None) -> EngineDevices:
        env = os.environ if environ is None else environ
        return cls.parse(env.get("CUDA_VISIBLE_DEVICES"), limit)

    @classmethod
    def nothing(cls) -> EngineDevices:
        """For an engine on another machine (a remote server): no local GPU is the engine's."""
        return cls((), None)

    def with_limit(self, limit: int | None) -> EngineDevices:
        return EngineDevices(self.entries, limit)

    def resolve(self, gpus: Sequence[tuple[int, MaybeStr]]) -> tuple[int, ...]:
        """NVML indices the engine may use, in CUDA order, from (index, uuid) of every GPU."""
        indices = [index for index, _ in gpus]
        if self.entries is None:
            visible = sorted(indices)
        else:
            visible = []
            for entry in self.entries:
                found = _match(entry, gpus)
                if found is None:
                    # An unknown device ends CUDA's list too. MIG instances land here: their UUIDs are not
                    # the parent GPU's, and resolving them needs MIG APIs this panel does not use.
                    break
                if found not in visible:
                    visible.append(found)
        return tuple(visible if self.limit is None else visible[: self.limit])


def _match(entry: str, gpus: Sequence[tuple[int, MaybeStr]]) -> int | None:
    if _INDEX.match(entry):
        wanted = int(entry)
        return wanted if any(index == wanted for index, _ in gpus) else None
    if entry.startswith("GPU-"):
        # CUDA accepts any unique prefix of the UUID.
        matches = [index for index, uuid in gpus if isinstance(uuid, str) and uuid.startswith(entry)]
        return matches[0] if len(matches) == 1 else None
    return None


def process_tree(root: int, proc: Path = Path("/proc")) -> frozenset[int]:
    """`root` and all its descendants, from /proc. vLLM's EngineCore and workers are child processes."""
    children: dict[int, list[int]] = {}
    try:
        entries = list(proc.iterdir())
    except OSError:
        return frozenset({root})
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # the process exited while we looked
        # The command name (field 2) may hold spaces and parentheses: the fields after the last ")" are safe.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and fields[1].isdigit():
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found = {root}
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return frozenset(found)
