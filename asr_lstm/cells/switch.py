"""A switch for a faster implementation of the shared time loop (the Triton kernels, the compiled CPU
loop): on by default, off inside a ``with switch.off():`` block, where the Python loop runs, so that
tests and benchmarks compare the two in one process."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


class Switch:
    def __init__(self) -> None:
        self.on = True

    @contextlib.contextmanager
    def off(self) -> Iterator[None]:
        before, self.on = self.on, False
        try:
            yield
        finally:
            self.on = before
