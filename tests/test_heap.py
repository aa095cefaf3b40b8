"""heap.settle: what is alive is left out of later collections, and what died in between is freed."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from vllm_tui.heap import settle


class Node:
    """A reference cycle, as Textual widgets form with their parents."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()


def test_survivors_are_frozen_and_collections_skip_them() -> None:
    keep = [Node() for _ in range(1000)]
    settle()
    assert gc.get_freeze_count() >= len(keep)


def test_garbage_from_before_a_settle_is_freed_by_it() -> None:
    node = Node()
    ref = weakref.ref(node)
    del node
    settle()
    assert ref() is None


def test_a_frozen_object_that_dies_is_freed_at_the_next_settle() -> None:
    node = Node()  # a chat's widget, frozen while the chat was shown
    ref = weakref.ref(node)
    settle()
    del node  # the chat is closed
    gc.collect()
    assert ref() is not None, "frozen: ordinary collections leave it"
    settle()
    assert ref() is None
