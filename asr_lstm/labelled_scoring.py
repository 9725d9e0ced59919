"""Hypotheses scored as a prepared directory's labelling says: its label rate (on folded labels where
it folds them) and, where its labels spell words, the WER. ``evaluate`` scores a run's splits with it,
``decode --score`` a model file's hypotheses of manifests, against the references the manifests hold,
and of files transcribed beside them (``NAME.gt.txt``), labelled as the model labels."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from asr_lstm.data.corpora.line_folder import TRANSCRIPTION_SUFFIX, read_transcription, transcription_of
from asr_lstm.data.manifest import read_manifest
from asr_lstm.data.unicode_forms import normalized
from asr_lstm.data.units import Labelling, Units, UnitsError
from asr_lstm.metrics import ErrorCounts
from asr_lstm.scoring import score, score_words, write_transcripts


def score_hypotheses(
    refs: dict[str, list[str]], hyps: dict[str, list[str]], labelling: Labelling, out: Path, extra: dict
) -> dict[str, ErrorCounts]:
    """Writes ``out/{ref,hyp}.txt``, scores the labels into ``out/`` (``errs.txt``, ``metrics.json``,
    ``confusions.json``) and their words into ``out/wer/`` where the labels have units; returns the
    counts of each rate (the label rate's name, ``wer``). A reference without a hypothesis counts as
    one with none.

    Args:
        extra: more fields for each ``metrics.json``.
    """
    write_transcripts(hyps, out / "hyp.txt")
    write_transcripts(refs, out / "ref.txt")
    rate = labelling.token_metric
    totals = {rate: score(out / "ref.txt", out / "hyp.txt", out, labelling.folding, rate, extra)}
    if labelling.units is not None:
        totals["wer"] = score_words(out / "ref.txt", out / "hyp.txt", out / "wer", labelling.units.words, extra)
    return totals


def manifest_references(
    manifests: list[Path], units: Units | None, folding: str | None, excluded: set[str] = frozenset()
) -> tuple[dict[str, list[str]], Labelling]:
    """The reference labels of every row of ``manifests`` (but the ``excluded`` ids), and the labelling
    they share: that of each manifest's prepared directory (``labelling.json`` beside it), which must
    label as a model of ``units`` and ``folding`` does, or its references would not be its labels.

    Raises:
        ValueError: naming every manifest without a labelling, of other labels than the model's, or
            with an id of an earlier row, and every row without its reference.
    """
    refs: dict[str, list[str]] = {}
    where: dict[str, str] = {}
    labellings: list[Labelling] = []
    problems = []
    for manifest in manifests:
        try:
            labelling = Labelling.load(manifest.parent)
        except FileNotFoundError as err:
            problems.append(f"{manifest}: no labelling of its directory ({err}), so its references cannot be read")
            continue
        mine = labelling.units.state() if labelling.units is not None else None
        models = units.state() if units is not None else None
        if mine != models or labelling.folding != folding:
            theirs, model = describe(labelling.units, labelling.folding), describe(units, folding)
            if theirs == model:
                theirs += " of another word separator, lexicon or subword model"
            problems.append(
                f"{manifest}: labelled with {theirs} and the model with {model}: prepare it with the model's units to score it"
            )
            continue
        labellings.append(labelling)
        for lineno, row in enumerate(read_manifest(manifest), 1):
            if row["id"] in excluded:
                continue
            if labelling.reference_key not in row:
                problems.append(f"{manifest}: row {lineno} ({row['id']}) has no {labelling.reference_key!r}")
            elif row["id"] in refs:
                problems.append(f"{manifest}: row {lineno}: id {row['id']!r} is also in {where[row['id']]}")
            else:
                refs[row["id"]], where[row["id"]] = row[labelling.reference_key], f"{manifest}:{lineno}"
    if problems:
        raise ValueError("\n".join(problems))
    return refs, labellings[0]


def labelling_of(units: Units, folding: str | None) -> Labelling:
    """The labelling of a model's own ``units`` (and label ``folding``), for references it labels itself."""
    return Labelling("units", units.metric, units.token_metric, folding, units)


def transcription_references(
    inputs: Iterable[tuple[str, Path]], units: Units, form: str | None
) -> tuple[dict[str, list[str]], list[str]]:
    """The reference labels of input files each transcribed in the ``NAME.gt.txt`` beside it (the ground
    truth of kraken, Calamari and OCR-D: :mod:`asr_lstm.data.corpora.line_folder`), labelled as a
    model's training data was: the text brought to its Unicode ``form``, its words spelled by its
    ``units``; and the problems, every one: an input without such a file, one whose file is not a
    line of text, or whose words the units cannot label.

    Args:
        inputs: ``(id, file)`` of each input.
    """
    refs: dict[str, list[str]] = {}
    problems = []
    for utt, path in inputs:
        transcription = transcription_of(path)
        if transcription is None:
            name = path.name.split(".")[0] or path.name
            problems.append(
                f"{path}: no {TRANSCRIPTION_SUFFIX} beside it (such as {name}{TRANSCRIPTION_SUFFIX}) holds its reference"
            )
            continue
        words, problem = read_transcription(transcription)
        if problem is not None:
            problems.append(problem)
            continue
        try:
            refs[utt] = units.labels(normalized(" ".join(words), form).split())
        except UnitsError as err:
            problems.append(f"{transcription}: {err}")
    return refs, problems


def describe(units: Units | None, folding: str | None) -> str:
    """The labels of ``units`` in words, for messages: ``char units``, ``the corpus's own labels folded to 39``."""
    labels = f"{units.kind} units" if units is not None else "the corpus's own labels"
    return labels + (f" folded to {folding}" if folding else "")
