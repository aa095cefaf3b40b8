"""vllm-tui: a keyboard-driven terminal chat for DeepSeek models on vLLM."""

__version__ = "0.1.0"
