"""Token vocabularies: CTC blank at index 0, then the labels in a fixed order."""

from __future__ import annotations

from pathlib import Path

BLANK = "<blk>"


class Vocabulary:
    """Maps labels to ids and back; id 0 is the CTC blank in every vocabulary.

    Args:
        labels: the output labels without the blank, in id order (id = position + 1).
    """

    def __init__(self, labels: list[str]):
        if BLANK in labels:
            raise ValueError(f"{BLANK} is reserved for the CTC blank")
        if len(set(labels)) != len(labels):
            raise ValueError("duplicate labels in vocabulary")
        self.tokens = [BLANK, *labels]
        self._ids = {t: i for i, t in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, label: str) -> bool:
        return label in self._ids and label != BLANK

    def encode(self, labels: list[str]) -> list[int]:
        """Label sequence -> ids. Raises ``KeyError`` naming an unknown label."""
        try:
            return [self._ids[label] for label in labels]
        except KeyError as err:
            raise KeyError(f"label {err.args[0]!r} is not in the vocabulary") from None

    def save(self, path: str | Path) -> None:
        """Writes ``token id`` per line (Kaldi ``tokens.txt`` format)."""
        Path(path).write_text("".join(f"{t} {i}\n" for i, t in enumerate(self.tokens)), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        rows = [line.split() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
        tokens = [t for t, _ in sorted(rows, key=lambda r: int(r[1]))]
        if not tokens or tokens[0] != BLANK:
            raise ValueError(f"{path}: id 0 must be the blank {BLANK}")
        return cls(tokens[1:])
