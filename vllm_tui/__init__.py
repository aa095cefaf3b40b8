"""vllm-tui: a keyboard-driven terminal chat for DeepSeek models on vLLM."""

import os

__version__ = "0.1.0"

# Textual paints a changed screen only on ticks of a fixed 1/TEXTUAL_FPS grid (default 60 Hz): a
# frame of the streaming answer that lands just after a tick, such as the second layout pass Textual
# runs after each one that resized the chat log, waits up to 16.7 ms. At 240 the wait is at most
# 4 ms; the answer itself is still flushed at most 40 times a second (widgets/markdown_stream.py),
# and an idle screen paints nothing. Set here, before anything imports Textual (it reads the variable
# once); a value the user exported wins.
os.environ.setdefault("TEXTUAL_FPS", "240")
