"""SSE framing, chunk parsing and the client-side `</think>` split, on plain strings."""

from __future__ import annotations

import pytest

from vllm_tui.engine.sse import SSEDecoder, StreamError, ThinkTagSplitter, error_message, parse_chunk


def decode(text: str) -> list[tuple[str, str]]:
    decoder = SSEDecoder()
    events = [decoder.feed(line) for line in text.split("\n")]
    events.append(decoder.flush())
    return [(e.event, e.data) for e in events if e is not None]


def test_sse_framing() -> None:
    text = ': keep-alive\ndata: {"a": 1}\n\nevent: ping\ndata:x\ndata: y\r\n\r\ndata: [DONE]'
    assert decode(text) == [("message", '{"a": 1}'), ("ping", "x\ny"), ("message", "[DONE]")]


def test_parse_chunk_reads_both_reasoning_spellings_and_usage() -> None:
    new = parse_chunk('{"choices":[{"index":1,"delta":{"reasoning":"r"},"finish_reason":null}]}')
    old = parse_chunk(
        '{"choices":[{"index":0,"delta":{"reasoning_content":"r","content":"c"},"finish_reason":"length"}]}'
    )
    assert (new.choices[0].index, new.choices[0].reasoning, new.choices[0].content) == (1, "r", None)
    assert (old.choices[0].reasoning, old.choices[0].content, old.choices[0].finish_reason) == (
        "r",
        "c",
        "length",
    )
    usage = parse_chunk(
        '{"choices":[],"usage":{"prompt_tokens":6,"completion_tokens":40,'
        '"completion_tokens_details":{"reasoning_tokens":12}}}'
    ).usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens, usage.reasoning_tokens) == (
        6,
        40,
        12,
    )


@pytest.mark.parametrize(
    ("data", "malformed", "message"),
    [
        ('{"error": {"message": "boom", "code": 500}}', False, "boom"),
        ('{"object": "error", "message": "old shape"}', False, "old shape"),
        ('{"choices": [{"delta": ', True, "Not JSON"),
        ('{"id": "x"}', True, "Not a chat-completion chunk"),
    ],
)
def test_parse_chunk_errors(data: str, malformed: bool, message: str) -> None:
    with pytest.raises(StreamError) as info:
        parse_chunk(data)
    assert info.value.malformed is malformed and message in info.value.message


def test_error_message_shapes() -> None:
    assert error_message({"error": "Unauthorized"}) == "Unauthorized"
    assert error_message({"detail": "Not Found"}) == "Not Found"
    assert error_message({"choices": []}) is None


OUTPUT = "Let me think about it.</think>\n\nThe answer is 4."


@pytest.mark.parametrize("prefix", ["", "<think>\n"])
def test_think_split_at_every_cut(prefix: str) -> None:
    """The tag may be cut anywhere, including inside `</think>` and inside a leading `<think>`."""
    text = prefix + OUTPUT
    for a in range(len(text) + 1):
        for b in range(a, len(text) + 1, 3):
            splitter = ThinkTagSplitter()
            thinking = answer = ""
            for piece in (text[:a], text[a:b], text[b:]):
                t, x = splitter.feed(piece)
                thinking, answer = thinking + t, answer + x
            t, x = splitter.flush()
            thinking, answer = thinking + t, answer + x
            assert (thinking.strip(), answer) == ("Let me think about it.", "\n\nThe answer is 4."), (a, b)


def test_think_split_without_close_tag_is_all_thinking() -> None:
    splitter = ThinkTagSplitter()
    parts = [splitter.feed("Still thinking </thi"), splitter.flush()]
    assert "".join(p[0] for p in parts) == "Still thinking </thi"
    assert all(p[1] == "" for p in parts) and splitter.in_thinking
