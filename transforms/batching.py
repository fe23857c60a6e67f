"""Batching help for RunInference steps: runs of inputs sorted by length, so a batch is padded to
a similar length. Used by embed (texts) and qgen (generator inputs)."""

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindows


class LengthSortedRunsFn(beam.DoFn):
    """Re-emits (key, text) pairs (or (key, (text, …))) in runs of `window` sorted by text
    length, so the consecutive
    batches RunInference cuts are of similar length and carry little padding (the idea of Hugging
    Face's group_by_length). Beam's own length bucketing needs a streaming batch timeout."""

    def __init__(self, window: int) -> None:
        self._window = window
        self._buffer: list = []

    def start_bundle(self) -> None:
        self._buffer = []

    def process(self, keyed_text):
        self._buffer.append(keyed_text)
        if len(self._buffer) >= self._window:
            yield from self._flush()

    def finish_bundle(self):
        for keyed_text in self._flush():
            yield GlobalWindows.windowed_value(keyed_text)

    def _flush(self) -> list:
        run = sorted(self._buffer, key=lambda kv: _text_length(kv[1]))
        self._buffer = []
        return run


def _text_length(value) -> int:
    """A text's length; a (text, …) tuple's text's. Anything else (embed's known vectors, which
    need no encoding) sorts first, as length 0."""
    if isinstance(value, tuple) and value and isinstance(value[0], str):
        value = value[0]
    return len(value) if isinstance(value, str) else 0

