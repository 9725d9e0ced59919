"""A switch for a faster implementation of the shared time loop (the Triton kernels, the compiled CPU
loop): on by default, off inside a ``with switch.off():`` block, where the Python loop runs, so that
tests and benchmarks compare the two in one process. A switch made ``Switch(on=False)`` guards an
implementation that waits for a measurement; ``with switch.turned_on():`` runs it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


class Switch:
    def __init__(self, on: bool = True) -> None:
        self.on = on

    @contextlib.contextmanager
    def off(self) -> Iterator[None]:
        with self._set(False):
            yield

    @contextlib.contextmanager
    def turned_on(self) -> Iterator[None]:
        """For a switch off by default (an implementation not yet measured to win)."""
        with self._set(True):
            yield

    @contextlib.contextmanager
    def _set(self, on: bool) -> Iterator[None]:
        before, self.on = self.on, on
        try:
            yield
        finally:
            self.on = before
