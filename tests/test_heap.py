"""heap.settle and heap.tidy: what lives is left out of later collections, what died in between is freed."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from vllm_tui import heap
from vllm_tui.heap import configure, settle, tidy


class Node:
    """A reference cycle, as Textual widgets form with their parents."""

    def __init__(self) -> None:
        self.me = self


def frozen(nodes: list[Node]) -> int:
    """How many of nodes are frozen: gc.get_objects() lists what collections walk, not the frozen.

    Asked of the nodes themselves rather than as a change in gc.get_freeze_count(): a frozen object
    that another test's leftover thread releases meanwhile lowers that count (the CI once saw +996
    for 1,001 objects frozen)."""
    walked = {id(obj) for obj in gc.get_objects()}
    return sum(id(node) not in walked for node in nodes)


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()


def test_survivors_are_frozen_and_collections_skip_them() -> None:
    keep = [Node() for _ in range(1000)]
    assert frozen(keep) == 0
    settle()
    assert frozen(keep) == len(keep)


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


@pytest.fixture
def tidy_ready(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(heap, "_last_tidy", -heap.TIDY_INTERVAL)


def test_tidy_frees_garbage_not_frozen_and_freezes_what_lives(tidy_ready: None) -> None:
    settle()
    garbage = Node()
    gone = weakref.ref(garbage)
    del garbage
    keep = [Node() for _ in range(1000)]  # the lines of a chunk that just filled
    tidy()
    assert gone() is None, "garbage since the last freeze is collected first, not frozen"
    assert frozen(keep) == len(keep)


def test_tidy_runs_at_most_once_per_interval(tidy_ready: None) -> None:
    tidy()
    keep = [Node() for _ in range(1000)]
    tidy()  # a second chunk filling in the same second (parallel samples)
    assert frozen(keep) == 0


def test_configure_spaces_young_collections_and_keeps_the_older_thresholds() -> None:
    before = gc.get_threshold()
    try:
        configure()
        assert gc.get_threshold() == (heap.YOUNG_THRESHOLD, before[1], before[2])
    finally:
        gc.set_threshold(*before)
