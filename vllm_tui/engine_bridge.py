"""Engine events → the Textual app, without one message per token.

The engine thread calls `EngineBridge.emit` at engine speed. Events go into a queue, and one
`EngineEventsReady` wake-up message is posted only when none is already pending; the app drains the
whole queue in order when it handles it. So a burst of thousands of tokens costs one message, order
is kept (a delta never overtakes its AnswerFinished), and the engine thread never blocks on the UI.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    from textual.message_pump import MessagePump

    from vllm_tui.engine.events import EngineEvent


class EngineEventsReady(Message, bubble=False):
    """Wake-up: the bridge has events. Carries nothing, so a newer one can replace an older one."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, EngineEventsReady)


class EngineBridge:
    def __init__(self, target: MessagePump) -> None:
        self._target = target
        self._queue: deque[EngineEvent] = deque()
        self._lock = threading.Lock()
        self._pending = False
        self.closed = False

    def emit(self, event: EngineEvent) -> None:
        if self.closed:
            return
        with self._lock:
            self._queue.append(event)
            if self._pending:
                return
            self._pending = True
        self._target.post_message(EngineEventsReady())

    def drain(self) -> list[Any]:
        with self._lock:
            events = list(self._queue)
            self._queue.clear()
            self._pending = False
        return events
