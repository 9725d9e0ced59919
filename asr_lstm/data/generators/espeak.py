"""Speech synthesis with phone timings from libespeak-ng (shipped by the ``espeakng-loader`` wheel).

The library runs in synchronous mode with phoneme events (``espeak_Initialize(2, 0, data, 1)``), so a
synthesis call returns the waveform (22050 Hz, int16) together with PHONEME and WORD events that carry
their position in the audio in milliseconds.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np

AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_PHONEME_EVENTS = 1
EVENT_LIST_TERMINATED, EVENT_WORD, EVENT_PHONEME = 0, 1, 7
POS_CHARACTER, CHARS_UTF8 = 1, 1
PARAM_RATE, PARAM_PITCH, PARAM_RANGE, PARAM_WORDGAP = 1, 3, 4, 7


class _Event(ctypes.Structure):
    # espeak_EVENT from speak_lib.h; the union ``id`` is read as its 8-byte ``string`` member.
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclass
class Synthesis:
    """One synthesised utterance.

    Attributes:
        audio: int16 samples, shape ``(N,)``.
        sample_rate: Hz (22050 for espeak-ng).
        phonemes: ``(start_ms, espeak_mnemonic)`` in time order.
        words: ``(start_ms, text_position, length)`` with 1-based character positions.
    """

    audio: np.ndarray
    sample_rate: int
    phonemes: list[tuple[int, str]]
    words: list[tuple[int, int, int]]

    @property
    def duration_ms(self) -> int:
        return int(1000 * len(self.audio) / self.sample_rate)


class Espeak:
    """A handle on libespeak-ng; one per process (the library keeps global state)."""

    def __init__(self) -> None:
        import espeakng_loader

        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        rate = self._lib.espeak_Initialize(
            AUDIO_OUTPUT_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), INITIALIZE_PHONEME_EVENTS
        )
        if rate <= 0:
            raise RuntimeError(f"espeak_Initialize failed (returned {rate})")
        self.sample_rate = rate
        self._chunks: list[bytes] = []
        self._phonemes: list[tuple[int, str]] = []
        self._words: list[tuple[int, int, int]] = []
        self._callback = _CALLBACK(self._on_synth)  # kept referenced: the library calls it later
        self._lib.espeak_SetSynthCallback(self._callback)

    def _on_synth(self, wav, num_samples, events) -> int:
        if wav and num_samples > 0:
            self._chunks.append(ctypes.string_at(wav, num_samples * 2))
        i = 0
        while events[i].type != EVENT_LIST_TERMINATED:
            event = events[i]
            if event.type == EVENT_PHONEME:
                self._phonemes.append((event.audio_position, event.id.decode("utf-8", "replace")))
            elif event.type == EVENT_WORD:
                self._words.append((event.audio_position, event.text_position, event.length))
            i += 1
        return 0

    def set_voice(self, name: str, pitch: int, pitch_range: int, rate: int, word_gap: int) -> None:
        """Selects a voice such as ``en-us+m3`` and its prosody parameters (espeak units)."""
        if self._lib.espeak_SetVoiceByName(name.encode()) != 0:
            raise ValueError(f"espeak-ng has no voice {name!r}")
        for param, value in (
            (PARAM_PITCH, pitch),
            (PARAM_RANGE, pitch_range),
            (PARAM_RATE, rate),
            (PARAM_WORDGAP, word_gap),
        ):
            self._lib.espeak_SetParameter(param, value, 0)

    def synthesize(self, text: str, seed: int) -> Synthesis:
        """``text`` spoken in the current voice. ``seed`` seeds espeak-ng's random numbers
        (``espeak_ng_SetRandSeed``), which the breath noise of the voice variants with ``breath``
        (``+f2``, ``+f3``, ``+f5``) draws from and which it seeds from the clock when it starts: without
        it those voices differ from one process to the next."""
        self._lib.espeak_ng_SetRandSeed(ctypes.c_long(seed))
        self._chunks, self._phonemes, self._words = [], [], []
        data = text.encode("utf-8")
        status = self._lib.espeak_Synth(data, len(data) + 1, 0, POS_CHARACTER, 0, CHARS_UTF8, None, None)
        if status != 0:
            raise RuntimeError(f"espeak_Synth failed with status {status} on {text!r}")
        audio = np.frombuffer(b"".join(self._chunks), dtype=np.int16).copy()
        return Synthesis(audio, self.sample_rate, self._phonemes, self._words)
