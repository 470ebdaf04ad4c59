"""Where completions come from, behind one interface (``clients.LLMClient``): litellm for live
models, ``replay`` for recorded completions (taking a live model's path), and the test doubles —
``scripted`` (a litellm provider in-process) and ``fake_openai`` (a server on 127.0.0.1)."""
