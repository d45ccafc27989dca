"""What an interpretation reports while it runs: a progress bar over clips and the explanation's text as it streams."""

from __future__ import annotations

import sys
from typing import Callable

__all__ = ["progress_bar", "CallbackStreamer"]


def progress_bar(progress, total: int, desc: str):
    """A tqdm bar on stderr when ``progress`` is True, the caller's own tqdm-like object when one is given,
    else a no-op."""
    if progress is True:
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, unit="clip", file=sys.stderr, dynamic_ncols=True)
    if progress:
        return progress

    class _Null:
        def update(self, n: int = 1) -> None:
            pass

        def close(self) -> None:
            pass

    return _Null()


class CallbackStreamer:
    """A minimal ``generate`` streamer: decodes new tokens and hands text deltas to a callback."""

    def __init__(self, tokenizer, callback: Callable[[str], None]):
        self.tokenizer, self.callback = tokenizer, callback
        self.ids: list[int] = []
        self.sent = ""
        self._prompt_seen = False

    def put(self, value) -> None:
        ids = value.reshape(-1).tolist()
        if not self._prompt_seen:     # generate() first sends the prompt ids (empty for inputs_embeds)
            self._prompt_seen = True
            return
        self.ids.extend(ids)
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if len(text) > len(self.sent) and not text.endswith("\ufffd"):
            self.callback(text[len(self.sent):])
            self.sent = text

    def end(self) -> None:
        pass
