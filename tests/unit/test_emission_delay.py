"""``scripts/emission_delay.py``: each greedy label the alignment pairs with its reference phone is
timed from the phone's start and end in the ``.PHN`` beside the audio; insertions and substitutions
are not timed."""

import numpy as np
import pytest
import soundfile as sf
import torch

from asr_lstm.recognizer import Recognizer
from scripts.emission_delay import delays
from tests.random_models import random_recognizer


def test_matched_labels_are_timed_from_their_reference_phones(tmp_path, monkeypatch):
    sf.write(str(tmp_path / "a.wav"), np.zeros(8000, dtype=np.float32), 16000)
    (tmp_path / "a.PHN").write_text("0 1600 aa\n1600 4800 b\n4800 8000 iy\n")
    recognizer = random_recognizer("lstm", bidirectional=False)  # 20 ms output frames (stride 2)
    tokens = recognizer.tokens
    path = torch.zeros(25, dtype=torch.long)  # blanks, then aa at frame 2 (its run), b at 12, s at 14, iy at 20
    for frame, label in ((2, "aa"), (3, "aa"), (12, "b"), (14, "s"), (20, "iy")):
        path[frame] = tokens.index(label)

    def posteriors(self, utterances):
        return [torch.nn.functional.one_hot(path, len(tokens)).float().log() for _ in utterances]

    monkeypatch.setattr(Recognizer, "posteriors", posteriors)
    after_start, after_end, printed, phones = delays(recognizer, [{"id": "a", "audio": str(tmp_path / "a.wav")}])
    assert phones == 3  # the inserted s is not timed
    assert after_start == pytest.approx([0.04, 0.14, 0.10]) and after_end == pytest.approx([-0.06, -0.06, -0.10])
    # stacked frame k ends at raw frame 2k + 2, complete once raw frame 2k + 4 (the deltas' lookahead)
    # has its 25 ms window: printed at (2k + 4) 10 ms + 25 ms
    assert printed == pytest.approx([0.105 - 0.0, 0.305 - 0.1, 0.465 - 0.3])
    path[12] = tokens.index("d")  # b substituted: not timed
    after_start, after_end, _, _ = delays(recognizer, [{"id": "a", "audio": str(tmp_path / "a.wav")}])
    assert after_start == pytest.approx([0.04, 0.10]) and after_end == pytest.approx([-0.06, -0.10])
