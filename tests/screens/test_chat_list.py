"""The chat list screen, driven headless with the pilot against a real store."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Input, Static

from vllm_tui.screens.chat_list import ChatListResult, ChatListScreen
from vllm_tui.store import ChatStore


async def wait_until(pilot: Pilot, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.02)


class ListApp(App[None]):
    def __init__(self, store: ChatStore, current: int | None = None) -> None:
        super().__init__()
        self.store = store
        self.current = current
        self.results: list[ChatListResult | None] = []

    def compose(self) -> ComposeResult:
        yield Static("chat screen underneath")

    def on_mount(self) -> None:
        self.push_screen(ChatListScreen(self.store, self.current), self.results.append)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ChatStore]:
    s = ChatStore.open(tmp_path / "chats.sqlite3")
    for prompt, answer in (
        ("How do volcanoes form?", "Magma rises through the crust."),
        ("Best way to boil an egg", "Nine minutes for a firm yolk."),
        ("Explain tides", "The Moon pulls the oceans."),
    ):
        chat = s.create_chat()
        s.add_user_message(chat.id, prompt)
        mid = s.begin_answer(chat.id, "tiny-r1", "local", {"temperature": 0.6})
        s.finish_answer(mid, "complete", content=answer, thinking=f"Thinking about {prompt.lower()}")
    yield s
    s.close()


def _screen(app: ListApp) -> ChatListScreen:
    screen = app.screen
    assert isinstance(screen, ChatListScreen)
    return screen


async def test_lists_newest_first_and_opens_with_enter(store: ChatStore) -> None:
    chats = store.list_chats()
    app = ListApp(store, current=chats[1].id)
    async with app.run_test() as pilot:
        screen = _screen(app)
        options = screen.options
        assert options.option_count == 3
        titles = [screen._chats[o.id].title for o in options.options if o.id]
        assert titles == ["Explain tides", "Best way to boil an egg", "How do volcanoes form?"]
        # The highlight starts on the chat being shown.
        assert screen.highlighted_chat == chats[1]
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: bool(app.results))
    assert app.results == [ChatListResult("open", chats[2].id)]


async def test_new_and_close(store: ChatStore) -> None:
    app = ListApp(store)
    async with app.run_test() as pilot:
        await pilot.press("n")
        await wait_until(pilot, lambda: bool(app.results))
    assert app.results == [ChatListResult("new")]

    app = ListApp(store)
    async with app.run_test() as pilot:
        await pilot.press("escape")
        await wait_until(pilot, lambda: bool(app.results))
    assert app.results == [ChatListResult("close")]


async def test_rename_inline(store: ChatStore) -> None:
    newest = store.list_chats()[0]
    app = ListApp(store)
    async with app.run_test() as pilot:
        screen = _screen(app)
        await pilot.press("r")
        assert screen.mode == "rename" and screen.edit_input.has_focus
        assert screen.edit_input.value == "Explain tides"
        await pilot.press("ctrl+u", *"Moon and sea", "enter")
        await wait_until(pilot, lambda: screen.mode == "list")
        assert store.chat(newest.id).title == "Moon and sea"  # type: ignore[union-attr]
        assert screen.highlighted_chat is not None and screen.highlighted_chat.title == "Moon and sea"
        assert screen.options.has_focus

        # Escape abandons a rename.
        await pilot.press("r", "x", "escape")
        assert screen.mode == "list"
        assert store.chat(newest.id).title == "Moon and sea"  # type: ignore[union-attr]
        assert not app.results


async def test_delete_asks_first(store: ChatStore) -> None:
    chats = store.list_chats()
    app = ListApp(store)
    async with app.run_test() as pilot:
        screen = _screen(app)
        await pilot.press("d")
        assert screen.mode == "confirm"
        confirm = screen.query_one("#chat-list-confirm", Static)
        assert confirm.display and "Explain tides" in str(confirm.render())
        # "n" here means "keep it", not "new chat".
        await pilot.press("n")
        assert screen.mode == "list" and not app.results
        assert len(store.list_chats()) == 3

        await pilot.press("d", "escape")
        assert screen.mode == "list" and not app.results and len(store.list_chats()) == 3

        await pilot.press("d", "y")
        assert [c.id for c in store.list_chats()] == [chats[1].id, chats[2].id]
        assert screen.options.option_count == 2
        assert screen.highlighted_chat == store.list_chats()[0]
        await pilot.press("escape")
        await wait_until(pilot, lambda: bool(app.results))
    assert app.results == [ChatListResult("close", deleted=(chats[0].id,))]


async def test_search_opens_the_hit(store: ChatStore) -> None:
    egg_chat = next(c for c in store.list_chats() if "egg" in c.title)
    answer = store.messages(egg_chat.id)[1]
    app = ListApp(store)
    async with app.run_test() as pilot:
        screen = _screen(app)
        await pilot.press("slash")
        assert screen.mode == "search" and screen.search_input.has_focus
        await pilot.press(*"yol")  # prefix of "yolk", in the answer only
        await wait_until(pilot, lambda: bool(screen._hits) and screen.options.option_count == 1)
        hit = screen.highlighted_hit
        assert hit is not None and hit.message_id == answer.id and hit.chat_id == egg_chat.id
        assert "yolk" in hit.snippet

        # Something that matches nothing says so.
        await pilot.press("ctrl+u", *"zzzqqq")
        await wait_until(pilot, lambda: not screen._hits and screen.options.option_count == 1)

        await pilot.press("ctrl+u", *"thinking about")
        await wait_until(pilot, lambda: len(screen._hits) == 3)
        await pilot.press("ctrl+u", *"nine minutes", "enter")
        await wait_until(pilot, lambda: len(screen._hits) == 1 and screen.options.has_focus)
        await pilot.press("enter")
        await wait_until(pilot, lambda: bool(app.results))
    assert app.results == [ChatListResult("open", egg_chat.id, answer.id)]


async def test_search_finds_a_chat_by_the_title_given_it(store: ChatStore) -> None:
    tides = next(c for c in store.list_chats() if "tides" in c.title)
    store.rename_chat(tides.id, "Ocean notes")
    app = ListApp(store)
    async with app.run_test() as pilot:
        screen = _screen(app)
        await pilot.press("slash", *"ocean")
        await wait_until(pilot, lambda: bool(screen._hits))
        hit = screen.highlighted_hit
        assert hit is not None and hit.chat_id == tides.id and hit.message_id is None
        option = screen.options.get_option_at_index(0)
        assert str(option.prompt) == "Ocean notes · chat title"
        await pilot.press("enter", "enter")
        await wait_until(pilot, lambda: bool(app.results))
    assert app.results == [ChatListResult("open", tides.id, None)]


async def test_escape_leaves_search_then_closes(store: ChatStore) -> None:
    app = ListApp(store)
    async with app.run_test() as pilot:
        screen = _screen(app)
        await pilot.press("down", "down")
        assert screen.options.highlighted == 2
        await pilot.press("slash", *"tides")
        await wait_until(pilot, lambda: len(screen._hits) >= 1)
        await pilot.press("escape")
        assert screen.mode == "list" and screen.options.option_count == 3 and not app.results
        assert screen.options.highlighted == 2, "back on the chat highlighted before the search"
        await pilot.press("escape")
        await wait_until(pilot, lambda: bool(app.results))
    assert app.results == [ChatListResult("close")]


async def test_export_writes_markdown(
    store: ChatStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    newest = store.list_chats()[0]
    app = ListApp(store)
    async with app.run_test() as pilot:
        screen = _screen(app)
        await pilot.press("e")
        assert screen.mode == "export"
        expected = tmp_path / f"chat-{newest.id}-explain-tides.md"
        assert screen.edit_input.value == str(expected)
        await pilot.press("enter")
        await wait_until(pilot, expected.exists)
        assert "The Moon pulls the oceans." in expected.read_text(encoding="utf-8")
        assert any(str(expected) in str(n.message) for n in app._notifications)

        # A typed path is used as given; a folder that is not there is made only once confirmed.
        await pilot.press("e", "ctrl+u", *"note/tides.md", "enter")
        await wait_until(pilot, lambda: screen.mode == "confirm")
        question = str(screen.query_one("#chat-list-confirm", Static).render())
        assert f"{tmp_path / 'note'} does not exist. Create it?" in question
        assert "n change the path" in question
        # n: back to the line with the typed path (a typo in the folder), to be corrected.
        await pilot.press("n")
        await wait_until(pilot, lambda: screen.mode == "export")
        assert screen.edit_input.value == "note/tides.md" and not (tmp_path / "note").exists()
        await pilot.press("home", "right", "right", "right", "right", "s", "enter")
        await wait_until(pilot, lambda: screen.mode == "confirm")
        assert f"{tmp_path / 'notes'} does not exist." in str(
            screen.query_one("#chat-list-confirm", Static).render()
        )
        await pilot.press("y")
        await wait_until(pilot, (tmp_path / "notes" / "tides.md").exists)
        assert screen.mode == "list" and not app.results

        # The next export starts in the folder of the last one, after a restart too.
        await pilot.press("e")
        assert screen.edit_input.value == str(tmp_path / "notes" / expected.name)
        await pilot.press("escape")
    monkeypatch.chdir("/")
    app = ListApp(store)
    async with app.run_test() as pilot:
        await pilot.press("e")
        assert _screen(app).edit_input.value == str(tmp_path / "notes" / expected.name)
        # A bare name goes into that folder, not into the directory the app was started from.
        await pilot.press("ctrl+u", *"bare.md", "enter")
        await wait_until(pilot, (tmp_path / "notes" / "bare.md").exists)
        # No name at all before the extension: refused, nothing written.
        await pilot.press("e", "ctrl+u", *".md", "enter")
        await wait_until(pilot, lambda: any("not a file name" in str(n.message) for n in app._notifications))
        assert not (tmp_path / "notes" / ".md").exists()
        # The line stays open with what was typed, to be corrected rather than retyped.
        screen = _screen(app)
        assert screen.mode == "export" and screen.query_one("#chat-list-edit", Input).value == ".md"
        await pilot.press("home", *"fixed")
        await pilot.press("enter")
        await wait_until(pilot, (tmp_path / "notes" / "fixed.md").exists)


async def test_empty_store(tmp_path: Path) -> None:
    with ChatStore.open(tmp_path / "empty.sqlite3") as empty:
        app = ListApp(empty)
        async with app.run_test() as pilot:
            screen = _screen(app)
            assert screen.options.option_count == 1 and screen.highlighted_chat is None
            await pilot.press("enter", "r", "d", "e")
            assert screen.mode == "list" and not app.results
            await pilot.press("n")
            await wait_until(pilot, lambda: bool(app.results))
        assert app.results == [ChatListResult("new")]


async def test_export_asks_before_replacing_a_file(store: ChatStore, tmp_path: Path) -> None:
    target = tmp_path / "out.md"
    target.write_text("notes the user keeps", encoding="utf-8")
    app = ListApp(store)
    async with app.run_test() as pilot:
        screen = _screen(app)
        await pilot.press("e", "ctrl+u", *str(target), "enter")
        await wait_until(pilot, lambda: screen.mode == "confirm")
        question = str(screen.query_one("#chat-list-confirm", Static).render())
        assert str(target) in question and "Replace it?" in question
        await pilot.press("n")
        await pilot.pause(0.2)
        # The file is kept, and the line is back with the path, for another name.
        assert screen.mode == "export" and screen.edit_input.value == str(target)
        assert target.read_text(encoding="utf-8") == "notes the user keeps"
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.mode == "confirm")
        await pilot.press("y")
        await wait_until(pilot, lambda: "The Moon pulls the oceans." in target.read_text(encoding="utf-8"))
        assert screen.mode == "list" and not app.results


async def test_the_footer_says_what_enter_does_while_typing(store: ChatStore) -> None:
    from textual.widgets._footer import FooterKey

    def footer() -> list[str]:
        return [f"{key.key_display} {key.description}" for key in app.screen.query(FooterKey)]

    app = ListApp(store)
    async with app.run_test(size=(90, 20)) as pilot:
        for key, shown in (("r", "⏎ Rename"), ("e", "⏎ Export"), ("slash", "⏎ Results")):
            await pilot.press(key)
            await wait_until(pilot, lambda shown=shown: footer() == [shown, "esc Cancel"])  # type: ignore[misc]
            await pilot.press("escape")
            await wait_until(pilot, lambda: _screen(app).mode == "list")


async def test_an_export_that_cannot_be_written_keeps_the_line_and_its_path(
    store: ChatStore, tmp_path: Path
) -> None:
    """A path that could not be written asked "Create it?", failed with "[Errno 2]" after y, and
    closed the line: the typed path was gone."""
    (tmp_path / "a-file").write_text("not a folder")
    app = ListApp(store)
    async with app.run_test() as pilot:
        screen = _screen(app)
        under_a_file = str(tmp_path / "a-file" / "sub" / "x.md")
        await pilot.press("e", "ctrl+u", *under_a_file, "enter")
        said = lambda text: any(text in f"{n.title} {n.message}" for n in app._notifications)  # noqa: E731
        await wait_until(pilot, lambda: said(f"made: {tmp_path / 'a-file'} is a file, not a folder"))
        assert screen.mode == "export" and screen.edit_input.value == under_a_file  # not asked to create

        # Refused by the system only when written (/proc takes no new files, even from root).
        await pilot.press("ctrl+u", *"/proc/self/x.md", "enter")
        await wait_until(pilot, lambda: said("Cannot write /proc/self/x.md"))
        assert screen.mode == "export" and screen.edit_input.value == "/proc/self/x.md"
