"""Token units: how a transcription's words become CTC labels, and a hypothesis's labels words again.

Chosen by the ``units`` config group for any corpus whose items are transcribed in words (Kaldi data
directories, lhotse manifests, PAGE-XML / ALTO pages, IAM, IAM-OnDB):

- ``units=char``: the characters of the words with ``|`` between words (what the handwriting and
  Kaldi corpora use without a ``units`` choice); scored by CER, and WER over the words.
- ``units=phone data.units.lexicon=FILE``: each word's phones from a pronunciation lexicon (``word p1 p2
  ...`` a line, several lines per word allowed: the first is the word's label sequence), ``|``
  between words; scored by PER, and WER over the words read back through the lexicon.
- ``units=bpe`` / ``units=unigram``: subword pieces of a sentencepiece model trained on the training
  split's text (vocabulary size from config); scored by WER (the pieces' token error rate, ``ter``,
  is logged beside it).

A prepared data directory keeps what its labels are in ``labelling.json`` (:class:`Labelling`), which
training, ``asr-lstm evaluate`` and export read, so that scoring never guesses; an exported model
carries its units' :meth:`Units.state` (the sentencepiece model inside it), so a model file turns
its labels into words in a fresh process.
"""

from __future__ import annotations

import io
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from asr_lstm.atomic import write_text
from asr_lstm.data.bidi import display_words, logical_words
from asr_lstm.data.unicode_forms import normalized
from asr_lstm.text_files import numbered_lines

WORD_SEPARATOR = "|"
LABELLING_FILE = "labelling.json"


class UnitsError(ValueError):
    """A word that the units cannot label (not in the lexicon, characters the subword model lacks)."""


class Units(ABC):
    """Words <-> labels.

    Attributes:
        kind: the name in ``labelling.json`` and exported models.
        metric: what training monitors and the recipes report (``val/<metric>``).
        token_metric: the name of the label error rate.
        separator: the label between words, when the units have one (the lexicon search's separator).
        display_order: the paragraph direction that lays labels out in display order (``data.bidi``,
            :class:`DisplayOrder`), or ``None`` for labels in logical order.
    """

    kind: str
    metric: str
    token_metric: str
    separator: str | None = None
    display_order: str | None = None

    def fit(self, sentences: list[list[str]], form: str | None = None) -> None:  # noqa: B027 - most learn nothing
        """Learns what the units need from the training split's sentences (each a list of words),
        whose text is in the Unicode normalization ``form`` (:mod:`asr_lstm.data.unicode_forms`;
        ``None``: as the corpus holds it)."""

    @abstractmethod
    def labels(self, words: list[str]) -> list[str]:
        """The label sequence of a transcription.

        Raises:
            UnitsError: naming each word that cannot be labelled.
        """

    @abstractmethod
    def words(self, labels: Sequence[str]) -> list[str]:
        """The words of a label sequence (a hypothesis)."""

    def inventory(self) -> list[str] | None:
        """The labels, when the units fix them (a subword model); ``None``: those the corpus's labels use."""
        return None

    def label_order(self, words: list[str]) -> list[str]:
        """A transcription's words in the order its labels follow: the order a lexicon search
        produces and its word LM is trained in (display order under :class:`DisplayOrder`)."""
        return words

    def reading_order(self, words: list[str]) -> list[str]:
        """Words in :meth:`label_order` (a lexicon search's hypothesis) in the order they are read."""
        return words

    def displayed_words(self, labels: Sequence[str]) -> list[str]:
        """The words of a label sequence in :meth:`label_order` (left to right as a line image shows
        them under :class:`DisplayOrder`), for text drawn in string order."""
        return self.words(labels)

    @abstractmethod
    def state(self) -> dict:
        """Plain data (strings, numbers, lists, dicts, bytes) that :func:`units_from_state` rebuilds the units from."""

    def params(self) -> dict:
        """What identifies these units in a ``.done`` marker (their options, not learnt state)."""
        return {"kind": self.kind}


class Characters(Units):
    """Characters, ``separator`` between words: ``["to", "be"]`` -> ``t o | b e``."""

    kind, metric, token_metric = "char", "cer", "cer"

    def __init__(self, separator: str = WORD_SEPARATOR):
        self.separator = separator

    def labels(self, words: list[str]) -> list[str]:
        inside = [w for w in words if self.separator in w]
        if inside:
            raise UnitsError(f"the word separator {self.separator!r} inside {inside[0]!r}")
        return list(self.separator.join(words))

    def words(self, labels: Sequence[str]) -> list[str]:
        """Split at the separator; empty words (doubled or edge separators) dropped."""
        return [w for w in "".join(labels).split(self.separator) if w]

    def state(self) -> dict:
        return {"kind": self.kind, "separator": self.separator}

    def params(self) -> dict:
        return self.state()


def read_lexicon(path: Path) -> list[tuple[str, tuple[str, ...]]]:
    """``(word, phones)`` of every line of a ``word p1 p2 ...`` lexicon, in file order.

    Raises:
        UnitsError: the file is missing, or naming every line without phones.
    """
    if not path.is_file():
        raise UnitsError(f"{path}: no such lexicon (data.units.lexicon: 'word phone phone ...' a line)")
    entries, problems = [], []
    for lineno, line in numbered_lines(path, problems):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 2:
            problems.append(f"{path}:{lineno}: {fields[0]!r} has no phones")
        else:
            entries.append((fields[0], tuple(fields[1:])))
    if problems:
        raise UnitsError(f"{len(problems)} problems in the lexicon:\n  " + "\n  ".join(problems))
    if not entries:
        raise UnitsError(f"{path}: an empty lexicon")
    return entries


class LexiconPhones(Units):
    """Phones of each word from a pronunciation lexicon, ``separator`` between words.

    The lexicon's words are brought to the corpus's Unicode form in :meth:`fit`, so that a word
    written composed in one and decomposed in the other is still found. A word's labels are its
    first pronunciation in the lexicon; a hypothesis's phones between two separators are read back
    as the first word with that pronunciation (any of its variants), or, for a pronunciation the
    lexicon lacks, as the phones joined by ``_`` (an error against every word).

    Args:
        lexicon: the ``word p1 p2 ...`` file (the lines themselves, with ``entries``, in a model file).
        oov: the label (and word) a word missing from the lexicon becomes; ``None``: such a word is
            an error naming it and its utterance.
        separator: the label between words.
    """

    kind, metric, token_metric = "phone", "per", "per"

    def __init__(
        self,
        lexicon: str | None = None,
        oov: str | None = None,
        separator: str = WORD_SEPARATOR,
        entries: list[tuple[str, tuple[str, ...]]] | None = None,
    ):
        if entries is None:
            if lexicon is None:
                raise UnitsError("units=phone needs data.units.lexicon=FILE ('word phone phone ...' a line)")
            entries = read_lexicon(Path(lexicon))
        self.lexicon, self.oov, self.separator = lexicon, oov, separator
        self.index([(word, tuple(phones)) for word, phones in entries])
        clashes = sorted({p for phones in self.pronunciation.values() for p in phones} & {separator, oov})
        if clashes:
            raise UnitsError(f"{lexicon}: {clashes[0]!r} is a phone of the lexicon and the separator or OOV label")

    def index(self, entries: list[tuple[str, tuple[str, ...]]]) -> None:
        """Keeps ``entries`` and looks up both ways: a word's first pronunciation, a pronunciation's first word."""
        self.entries = entries
        self._folded: dict[str, str] | None = None  # compatibility-folded word -> the lexicon's spelling
        self.pronunciation: dict[str, tuple[str, ...]] = {}
        self.word_of: dict[tuple[str, ...], str] = {}
        for word, phones in entries:
            self.pronunciation.setdefault(word, phones)
            self.word_of.setdefault(phones, word)

    def fit(self, sentences: list[list[str]], form: str | None = None) -> None:
        """Brings the lexicon's words to the text's Unicode ``form``."""
        self.index([(normalized(word, form), phones) for word, phones in self.entries])

    def labels(self, words: list[str]) -> list[str]:
        missing = [w for w in words if w not in self.pronunciation]
        if missing and self.oov is None:
            raise UnitsError(
                f"not in the lexicon {self.lexicon}: {', '.join(self.unknown(w) for w in missing)} "
                "(add them, or map them to an OOV label with data.units.oov=<unk>)"
            )
        out: list[str] = []
        for k, word in enumerate(words):
            if k:
                out.append(self.separator)
            out.extend(self.pronunciation.get(word, (self.oov,)))
        return out

    def unknown(self, word: str) -> str:
        """``word`` for a message; when the lexicon holds it in other code points (composed against
        decomposed), both are spelled out, since they print alike."""
        if self._folded is None:
            self._folded = {}
            for w in self.pronunciation:
                self._folded.setdefault(normalized(w, "NFKC"), w)
        same = self._folded.get(normalized(word, "NFKC"))
        if same is None:
            return repr(word)
        return f"{ascii(word)} (the lexicon's {ascii(same)} in other code points: see data.normalization)"

    def words(self, labels: Sequence[str]) -> list[str]:
        groups: list[list[str]] = [[]]
        for label in labels:
            if label == self.separator:
                groups.append([])
            else:
                groups[-1].append(label)
        return [self.word_of.get(tuple(g), self.oov if g == [self.oov] else "_".join(g)) for g in groups if g]

    def state(self) -> dict:
        return {"kind": self.kind, "separator": self.separator, "oov": self.oov,
                "entries": [[word, list(phones)] for word, phones in self.entries]}  # fmt: skip

    def params(self) -> dict:
        return {"kind": self.kind, "lexicon": self.lexicon, "oov": self.oov, "separator": self.separator}


SENTENCEPIECE_TYPES = ("bpe", "unigram")


class SentencePieces(Units):
    """Subword pieces of a sentencepiece model (Kudo & Richardson 2018) trained on the training text.

    Words are recovered by sentencepiece's own decoding (a piece starting with U+2581 starts a word).
    Text already in the corpus's Unicode form is trained on as it is; without one (``form=None``),
    sentencepiece's own ``nmt_nfkc`` normalization applies, as it does by default.

    Args:
        model_type: ``bpe`` or ``unigram``.
        vocab_size: pieces in the model (the CTC output layer has one more, the blank).
        character_coverage: share of the training characters the model covers (1.0 for small alphabets).
        model: a trained model's bytes (from a ``labelling.json``'s folder or a model file), or ``None``
            to train one in :meth:`fit`.
    """

    metric, token_metric = "wer", "ter"

    def __init__(
        self,
        model_type: str = "unigram",
        vocab_size: int = 500,
        character_coverage: float = 1.0,
        model: bytes | None = None,
    ):
        if model_type not in SENTENCEPIECE_TYPES:
            raise UnitsError(f"data.units.model_type must be one of {SENTENCEPIECE_TYPES}, got {model_type!r}")
        if vocab_size < 2:
            raise UnitsError(f"data.units.vocab_size must be at least 2, got {vocab_size}")
        self.kind = model_type
        self.model_type, self.vocab_size, self.character_coverage = model_type, vocab_size, character_coverage
        self.model = model
        self._processor = None

    @property
    def processor(self):
        if self.model is None:
            raise UnitsError("the sentencepiece model is not trained yet: fit() it on the training text first")
        if self._processor is None:
            import sentencepiece

            self._processor = sentencepiece.SentencePieceProcessor(model_proto=self.model)
        return self._processor

    def fit(self, sentences: list[list[str]], form: str | None = None) -> None:
        """Trains the model on the sentences (no ``<s>`` / ``</s>``: CTC has no use for them).

        Raises:
            UnitsError: the text is too small for the vocabulary size (sentencepiece's reason quoted).
        """
        import sentencepiece

        out = io.BytesIO()
        try:
            sentencepiece.SentencePieceTrainer.train(
                sentence_iterator=iter([" ".join(words) for words in sentences]), model_writer=out,
                model_type=self.model_type, vocab_size=self.vocab_size, character_coverage=self.character_coverage,
                bos_id=-1, eos_id=-1, unk_id=0, minloglevel=2, num_threads=1,
                normalization_rule_name="nmt_nfkc" if form is None else "identity",
            )  # fmt: skip
        except RuntimeError as err:
            raise UnitsError(f"units={self.model_type} data.units.vocab_size={self.vocab_size}: {err}") from None
        self.model, self._processor = out.getvalue(), None

    def labels(self, words: list[str]) -> list[str]:
        processor = self.processor
        ids = processor.encode(" ".join(words))
        if any(processor.is_unknown(i) for i in ids):
            unknown = [w for w in words if any(processor.is_unknown(i) for i in processor.encode(w))]
            raise UnitsError(f"characters the {self.model_type} model never saw in training, in {unknown}")
        return [processor.id_to_piece(i) for i in ids]

    def words(self, labels: Sequence[str]) -> list[str]:
        return self.processor.decode_pieces(list(labels)).split()

    def inventory(self) -> list[str]:
        processor = self.processor
        return [processor.id_to_piece(i) for i in range(processor.get_piece_size()) if not processor.is_unknown(i)]

    def state(self) -> dict:
        return {"kind": self.kind, "vocab_size": self.vocab_size, "character_coverage": self.character_coverage,
                "model": self.processor.serialized_model_proto()}  # fmt: skip

    def params(self) -> dict:
        return {"kind": self.kind, "vocab_size": self.vocab_size, "character_coverage": self.character_coverage}


class DisplayOrder(Units):
    """Other units whose labels follow a line image's display order, left to right (``data.bidi``,
    :mod:`asr_lstm.data.bidi`): a transcription's words are laid out by the Unicode Bidirectional
    Algorithm with the paragraph direction ``display_order`` before ``units`` label them, and the words of a
    hypothesis are read back into logical order.

    ``["שלום", "עולם"]`` with ``display_order="R"`` and characters -> ``ם ל ו ע | ם ו ל ש``.
    """

    def __init__(self, units: Units, display_order: str):
        self.units, self.display_order = units, display_order
        self.kind, self.metric, self.token_metric = units.kind, units.metric, units.token_metric
        self.separator = units.separator

    def fit(self, sentences: list[list[str]], form: str | None = None) -> None:
        self.units.fit([self.label_order(words) for words in sentences], form)

    def labels(self, words: list[str]) -> list[str]:
        return self.units.labels(self.label_order(words))

    def words(self, labels: Sequence[str]) -> list[str]:
        return self.reading_order(self.units.words(labels))

    def inventory(self) -> list[str] | None:
        return self.units.inventory()

    def label_order(self, words: list[str]) -> list[str]:
        return display_words(words, self.display_order)

    def reading_order(self, words: list[str]) -> list[str]:
        return logical_words(words, self.display_order)

    def displayed_words(self, labels: Sequence[str]) -> list[str]:
        return self.units.words(labels)

    def state(self) -> dict:
        return {**self.units.state(), "display_order": self.display_order}

    def params(self) -> dict:
        return {**self.units.params(), "display_order": self.display_order}


def units_from_state(state: dict) -> Units:
    """The units a :meth:`Units.state` describes (in :class:`DisplayOrder` where it says ``display_order``).

    Raises:
        UnitsError: an unknown kind.
    """
    if "display_order" in state:
        inner = {key: value for key, value in state.items() if key != "display_order"}
        return DisplayOrder(units_from_state(inner), state["display_order"])
    kind = state.get("kind")
    if kind == Characters.kind:
        return Characters(state["separator"])
    if kind == LexiconPhones.kind:
        return LexiconPhones(oov=state["oov"], separator=state["separator"], entries=state["entries"])
    if kind in SENTENCEPIECE_TYPES:
        return SentencePieces(kind, state["vocab_size"], state["character_coverage"], bytes(state["model"]))
    raise UnitsError(f"unknown units kind {kind!r}")


@dataclass(frozen=True)
class Labelling:
    """What the labels of a prepared data directory are, and how they are scored.

    Attributes:
        reference_key: the manifest field holding each item's label sequence.
        metric: what training monitors (``val/<metric>``) and the recipes report.
        token_metric: the name of the label error rate.
        folding: the label folding applied before scoring labels (``"39"`` for TIMIT), or ``None``.
        units: how labels become words (WER is scored when there are units), or ``None`` (TIMIT's phones).
    """

    reference_key: str
    metric: str
    token_metric: str
    folding: str | None
    units: Units | None

    def save(self, out_dir: Path) -> None:
        """Writes ``labelling.json``; a sentencepiece model goes beside it as ``units.model``."""
        state = dict(self.units.state()) if self.units is not None else None
        if state is not None and "model" in state:
            (out_dir / "units.model").write_bytes(state.pop("model"))
            state["model"] = "units.model"
        fields = {**asdict(self), "units": state}
        write_text(out_dir / LABELLING_FILE, json.dumps(fields, indent=2, ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, out_dir: Path) -> Labelling:
        """Reads what :meth:`save` wrote.

        Raises:
            FileNotFoundError: the directory was not prepared (or by an older asr-lstm).
        """
        path = Path(out_dir) / LABELLING_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing; prepare the data again (asr-lstm prepare)")
        fields = json.loads(path.read_text(encoding="utf-8"))
        state = fields.pop("units")
        if state is not None and "model" in state:
            state["model"] = (path.parent / state["model"]).read_bytes()
        return cls(**fields, units=units_from_state(state) if state is not None else None)


def prepared_labelling(data_dir: Path) -> Labelling | None:
    """The labelling of a prepared data directory, or ``None`` where it has no ``labelling.json`` (a
    manifest written by hand)."""
    return Labelling.load(data_dir) if (Path(data_dir) / LABELLING_FILE).is_file() else None


def label_order_of(data_dir: Path) -> Callable[[list[str]], list[str]]:
    """The :meth:`Units.label_order` of a prepared data directory's units, which puts a line's words in
    the order of its labels (display order under ``data.bidi``); the words' own order where the
    directory has no units."""
    labelling = prepared_labelling(data_dir)
    return labelling.units.label_order if labelling is not None and labelling.units is not None else list
