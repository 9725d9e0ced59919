"""``asr-lstm decode MODEL INPUT...``: transcribe audio files or text-line images with an exported model.

INPUT, for a speech model, is an audio file in any format soundfile reads (WAV, FLAC, NIST SPHERE,
...) at any sample rate and channel count (channels are averaged, audio is resampled); for a
offline handwriting model, a line image in any format Pillow reads (PNG, JPEG, TIFF, ...; any size,
colour is turned to grey); for an online handwriting model, a pen-stroke file in IAM-OnDB's
``lineStrokes`` XML. For a line-image model, also a page: a PAGE-XML or ALTO file, whose lines are
cut from the page image it names and decoded (ids ``<page>-<line>``); ``--page-out DIR`` receives the
cut lines and a copy of the file with each line's text and confidence. Or a directory (searched recursively for such files), a list file
(``.lst``/``.scp``/``.txt``: one ``path`` or ``id path`` per line), or a manifest (``.jsonl``, as
written by corpus preparation: ``id`` and ``audio``, ``image`` or ``strokes`` of each row).

Output, one line per input: ``id<TAB>text``, where the text is the tokens (phones) of a phone model,
the words of a character model with a word separator (``--tokens`` prints its characters instead,
as scoring wants them), the words of a lexicon search; or, with ``--json``, a JSON object per line.
A model of right-to-left lines (``data.bidi``) prints its text in reading order; its tokens, CTM
positions and pictures stay in the order of the image.
``--align FILE`` writes CTC forced-alignment positions per token as CTM (``id 1 start duration
token confidence``): seconds for audio and strokes, pixel columns of the original image for a line.
``--plot DIR`` draws every input (spectrogram, line image or pen trajectory) with the CTC posteriors
and the aligned tokens under it, as ``DIR/<id>.png``. Every hypothesis has a confidence in [0, 1]
(:mod:`asr_lstm.confidence`, at the temperature calibrated on dev): in ``--json`` output and in the
title of its picture. ``--text-beside .pred.txt`` also writes each input's text into a file beside
it, ``NAME.pred.txt`` for the ``NAME.gt.txt`` there (a folder of line images, as OCR evaluation
tools pair them). A file that cannot be
decoded is reported on stderr by name and skipped; the others are still decoded, and the exit code is
1 when anything was skipped. ``--exclude RUN/skipped.tsv`` leaves out what a training run with
``data.on_error=skip`` skipped, so that a manifest's decode scores the utterances evaluate scored.
``--score DIR`` scores the hypotheses against references, as ``evaluate`` scores a run's splits
(``ref.txt``, ``hyp.txt``, ``errs.txt``, ``metrics.json``, ``confusions.json``, ``confusion.png``, and
``wer/`` where the labels spell words): of a manifest, those its rows hold, where its prepared
directory (``labelling.json`` beside it) names the field and must label as the model does; of any
other input file, the ``NAME.gt.txt`` beside it (a folder of line images as kraken, Calamari and
OCR-D keep their ground truth), labelled as the model's training text was (its Unicode form, its
units). Every input without its reference is named before anything is decoded; an input that could
not be decoded counts as an empty hypothesis.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import warnings
from pathlib import Path
from typing import NamedTuple

import torch
from tqdm import tqdm

from asr_lstm.arguments import positive_int
from asr_lstm.atomic import write_text
from asr_lstm.data.audio import AUDIO_SUFFIXES, LowSampleRateWarning, is_command
from asr_lstm.data.bad_items import read_bad_items
from asr_lstm.data.corpora.line_folder import TRANSCRIPTION_SUFFIX, text_beside
from asr_lstm.data.manifest import input_of, read_manifest, source_of
from asr_lstm.data.units import Labelling
from asr_lstm.decoding.options import SearchConfig, add_search_options, search_from_args
from asr_lstm.decoding.pages import cut_pages, is_page_file, write_pages
from asr_lstm.devices import resolve_device
from asr_lstm.errors import InputFileError
from asr_lstm.export import ModelFileError, load
from asr_lstm.labelled_scoring import labelling_of, manifest_references, score_hypotheses, transcription_references
from asr_lstm.pictures.alignment import draw_alignment
from asr_lstm.pictures.confusion import draw_confusion, read_confusions
from asr_lstm.recognizer import Recognizer, Search, Segment, Transcript, Utterance
from asr_lstm.text_files import numbered_lines

LIST_SUFFIXES = {".lst", ".scp", ".txt"}


class InputItem(NamedTuple):
    """One input to decode: its id, its file (or, from a manifest, a Kaldi ``wav.scp`` command as ``str``)
    and the ``(start, end)`` seconds of it a manifest row names (Kaldi ``segments``), else ``None``."""

    id: str
    path: Path | str
    segment: tuple[float, float] | None = None


def resolve_inputs(
    inputs: list[str], suffixes: frozenset[str] = AUDIO_SUFFIXES, speakers: dict[str, str] | None = None
) -> tuple[list[InputItem], list[str]]:
    """Every file named, listed, or found under a directory with one of ``suffixes``, and every row of
    a manifest; the speaker (or writer) of each manifest row goes into ``speakers`` (id -> speaker).
    Also what names no input: a line of a list file or a manifest (``file:line: what``), a list or
    manifest without any, a directory without a file of ``suffixes``.

    Raises:
        ValueError: a manifest with lines that are not JSON objects (every one named).
    """
    items: list[InputItem] = []
    problems: list[str] = []
    speakers = {} if speakers is None else speakers
    for name in inputs:
        path = Path(name)
        before = len(items)
        if path.is_dir():
            for found in sorted(p for p in path.rglob("*") if p.suffix.lower() in suffixes and p.is_file()):
                items.append(InputItem("_".join(found.relative_to(path).with_suffix("").parts), found))
            if len(items) == before:
                problems.append(f"{path}: no file below it ends in {', '.join(sorted(suffixes))}")
        elif path.suffix.lower() == ".jsonl" and path.is_file():
            for lineno, row in enumerate(read_manifest(path), 1):
                source = input_of(row)
                if "id" not in row or source is None:
                    problems.append(f"{path}: row {lineno} ({row.get('id', 'no id')}) has no id or no input file")
                    continue
                segment = tuple(row["segment"]) if "segment" in row else None
                items.append(InputItem(row["id"], source if is_command(source) else Path(source), segment))
                if source_of(row) is not None:
                    speakers[row["id"]] = source_of(row)
        elif path.suffix.lower() in LIST_SUFFIXES and path.is_file():
            for lineno, line in numbered_lines(path, problems):
                fields = line.split()
                if len(fields) == 1:
                    items.append(InputItem(Path(fields[0]).stem, Path(fields[0])))
                elif len(fields) == 2:
                    items.append(InputItem(fields[0], Path(fields[1])))
                elif fields:
                    problems.append(f"{path}:{lineno}: {len(fields)} fields; a line is 'path' or 'id path'")
        else:
            items.append(InputItem(path.stem, path))
        if len(items) == before and not path.is_dir() and not any(p.startswith(f"{path}:") for p in problems):
            problems.append(f"{path}: names no input")
    return items, problems


def ctm_lines(utt: str, segments: list[Segment]) -> str:
    """CTM lines ``id 1 start duration token confidence`` (the token's mean posterior)."""
    return "".join(f"{utt} 1 {s.start:.3f} {s.duration:.3f} {s.token} {s.confidence:.3f}\n" for s in segments)


def plot_all(
    recognizer: Recognizer,
    utterances: list[Utterance],
    posteriors: list[torch.Tensor],
    transcripts: list[Transcript],
    paths: dict[str, Path],
    folder: Path,
) -> None:
    """``folder/<id>.png`` of every input: what the network read, its posteriors and aligned tokens."""
    kind = recognizer.features.input
    for utterance, log_probs, t in zip(utterances, posteriors, transcripts):
        title = f"{t.id}: {recognizer.displayed_text(t.tokens, t.words)} (confidence {t.confidence:.2f})"
        feats = utterance.feats[:, : kind.base_dim(recognizer.features)]  # the static coefficients, not deltas
        draw_alignment(folder / f"{t.id}.png", title, kind.name, paths[t.id], feats, log_probs,
                       recognizer.frame_positions(len(log_probs), utterance.positions), recognizer.tokens, t.ids,
                       t.segments, kind.unit)  # fmt: skip


def file_in_the_way(folder: Path) -> Path | None:
    """The nearest of ``folder`` and its parents that exists, where it is not a folder."""
    for path in (folder, *folder.parents):
        if path.exists():
            return None if path.is_dir() else path
    return None


def prepare_outputs(files: list[str | None], folders: list[str | None]) -> list[str]:
    """Makes the folders that the output ``files`` go into, and the output ``folders``, before anything
    is decoded, so that a path that cannot be written fails at once and not after the decoding; returns
    the problems, each naming its path."""
    wanted = [(name, Path(name).parent) for name in filter(None, files) if not Path(name).is_dir()]
    problems = [f"{name}: a folder, not a file to write" for name in filter(None, files) if Path(name).is_dir()]
    for name, folder in [*wanted, *((name, Path(name)) for name in filter(None, folders))]:
        blocking = file_in_the_way(folder)
        if blocking is not None:
            problems.append(f"{name}: {blocking} is a file, not a folder")
            continue
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            problems.append(f"{name}: cannot make {err.filename} ({err.strerror})")
    return problems


def texts_beside(items: list[InputItem], suffix: str) -> dict[str, Path]:
    """``{id: the file its text goes to}`` for ``--text-beside SUFFIX``.

    Raises:
        ValueError: a suffix that would overwrite the ground truth, an input that is a command or a
            segment of a recording, or two inputs whose texts would go to one file.
    """
    if not suffix.startswith(".") or suffix == TRANSCRIPTION_SUFFIX:
        raise ValueError(
            f"--text-beside {suffix}: a suffix such as .pred.txt (not {TRANSCRIPTION_SUFFIX}, the ground truth)"
        )
    targets: dict[str, Path] = {}
    owner: dict[Path, str] = {}
    for item in items:
        if isinstance(item.path, str) or item.segment is not None:
            raise ValueError(f"--text-beside: {item.id} is a command or a segment of a recording, not a file")
        target = text_beside(item.path, suffix)
        if (other := owner.setdefault(target, item.id)) != item.id:
            raise ValueError(f"--text-beside: the texts of {other} and {item.id} would both go to {target}")
        targets[item.id] = target
    return targets


def references(
    inputs: list[str], items: list[InputItem], recognizer: Recognizer, excluded: set[str]
) -> tuple[dict[str, list[str]], Labelling]:
    """``--score``'s reference labels of every input, and their labelling: a manifest's rows hold
    theirs, and every other input file is transcribed in the ``NAME.gt.txt`` beside it.

    Raises:
        ValueError: naming every manifest or input without its reference, and every id of two inputs.
    """
    manifests = [Path(name) for name in inputs if Path(name).suffix.lower() == ".jsonl"]
    refs, labelling, problems = {}, None, []
    if manifests:
        try:
            refs, labelling = manifest_references(manifests, recognizer.units, recognizer.scoring_folding, excluded)
        except ValueError as err:
            problems.append(str(err))
    first: dict[str, InputItem] = {}
    problems += [f"id {item.id!r} names both {first[item.id].path} and {item.path}: a score needs each id once"
                 for item in items if first.setdefault(item.id, item) is not item]  # fmt: skip
    from_manifests = {row.get("id") for manifest in manifests for row in read_manifest(manifest)}
    files = [(item.id, Path(item.path)) for item in items if item.id not in from_manifests]
    if files and recognizer.units is None:
        problems.append(
            f"--score: {files[0][1]} and the other files that are not manifests are scored against a transcription "
            "beside them, in words, which this model's labels (the corpus's own, such as TIMIT's phones) do not spell; "
            "score a prepared manifest"
        )
    elif files:
        transcribed, unreadable = transcription_references(files, recognizer.units, recognizer.normalization)
        refs.update(transcribed)
        problems += unreadable
    if problems:
        raise ValueError("\n".join(problems))
    return refs, labelling or labelling_of(recognizer.units, recognizer.scoring_folding)


def model_and_search(
    parser: argparse.ArgumentParser, model: str, device: torch.device, search_config: SearchConfig
) -> tuple[Recognizer, Search]:
    """The model file's recognizer on ``device`` and its search; a bad model file ends the command
    (status 2, the file named), and so does a search that cannot be built for its tokens."""
    try:
        recognizer = load(model, device)
    except ModelFileError as err:
        print(f"{parser.prog}: {err}", file=sys.stderr)
        sys.exit(2)
    try:
        return recognizer, search_config.build(recognizer.tokens, recognizer.separator)
    except (FileNotFoundError, ValueError) as err:
        parser.error(str(err))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="asr-lstm decode", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", help="an exported .asrlstm file")
    parser.add_argument("inputs", nargs="+", help="audio files or line images, directories, list files or manifests")
    parser.add_argument("-o", "--output", help="write transcripts here instead of stdout")
    parser.add_argument(
        "--json", action="store_true", help="JSON lines: id, path, tokens, text (and segments with --align)"
    )
    parser.add_argument(
        "--tokens", action="store_true", help="print the tokens (characters of a handwriting model), not the words"
    )
    parser.add_argument("--align", metavar="CTM", help="write CTC forced-alignment times per token to this CTM file")
    parser.add_argument(
        "--plot", metavar="DIR", help="draw each input with its posteriors and aligned tokens as DIR/<id>.png"
    )
    parser.add_argument("--batch-size", type=positive_int, default=16, help="inputs per network batch")
    parser.add_argument(
        "--refuse-low-rate", action="store_true", help="skip audio sampled below the model's rate instead of warning"
    )
    parser.add_argument(
        "--exclude",
        metavar="SKIPPED_TSV",
        help="leave out the utterances listed in this skipped.tsv of a training run (by id), as evaluate does",
    )
    parser.add_argument(
        "--device", default="auto", help="auto (CUDA when visible, as evaluate and training), cpu, cuda or cuda:N"
    )
    parser.add_argument(
        "--page-out",
        metavar="DIR",
        help="for PAGE-XML / ALTO inputs: write their cut lines and copies with the recognised text here",
    )
    parser.add_argument(
        "--text-beside",
        metavar="SUFFIX",
        help="also write each input's text into a file beside it, NAME<SUFFIX> (.pred.txt: what OCR evaluation "
        "tools pair with NAME.gt.txt); NAME is that of the .gt.txt beside the input, else its name without suffix",
    )
    parser.add_argument(
        "--score",
        metavar="DIR",
        help="score the hypotheses against the references of manifests, or of the NAME.gt.txt beside each "
        "other input, into DIR (ref.txt, hyp.txt, errs.txt, metrics.json, wer/), as evaluate scores a run's splits",
    )
    add_search_options(parser)
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    try:
        search_config = search_from_args(args)
        device = resolve_device(args.device)
    except ValueError as err:
        parser.error(str(err))

    if args.exclude and not Path(args.exclude).is_file():
        parser.error(f"--exclude {args.exclude}: no such file")
    problems = prepare_outputs([args.output, args.align], [args.plot, args.page_out, args.score])
    if problems:
        parser.error("; ".join(problems))
    recognizer, search = model_and_search(parser, args.model, device, search_config)
    speakers: dict[str, str] = {}
    page_files = [name for name in args.inputs if is_page_file(name, recognizer.features.input.name)]
    if page_files and args.score:
        parser.error(
            f"--score: {', '.join(page_files)}: the lines of a page are scored from its manifest (prepare it with data=page)"
        )
    if page_files and not args.page_out:
        parser.error(f"{page_files[0]} is a page file: --page-out DIR names where its lines and its copy go")
    others = [name for name in args.inputs if name not in page_files]
    try:
        items, problems = resolve_inputs(others, recognizer.features.input.suffixes, speakers)
    except ValueError as err:  # a manifest that is not one
        parser.error(str(err))
    page_inputs, page_jobs, page_problems = cut_pages(page_files, Path(args.page_out or "."))
    problems += page_problems  # lines of lists and manifests that name no input, pages that cannot be cut
    items += [InputItem(utt, path) for utt, path in page_inputs]
    for problem in problems:
        print(f"asr-lstm decode: skipped {problem}", file=sys.stderr)
    excluded = {item.id for item in read_bad_items(Path(args.exclude))} if args.exclude else set()
    items = [item for item in items if item.id not in excluded]
    if args.score:
        try:
            refs, labelling = references(args.inputs, items, recognizer, excluded)
        except ValueError as err:
            parser.error(str(err))
    try:
        beside = texts_beside(items, args.text_beside) if args.text_beside else {}
    except ValueError as err:
        parser.error(str(err))
    utterances, paths = [], {}
    for utt, path, segment in tqdm(
        items, desc="reading", unit="file", file=sys.stderr, disable=len(items) < 64 or None
    ):
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", LowSampleRateWarning)
                utterance = recognizer.read(path, utt, speakers.get(utt), segment)
            for warning in caught:
                if args.refuse_low_rate:
                    raise InputFileError(str(warning.message))
                print(f"asr-lstm decode: warning: {warning.message}", file=sys.stderr)
            utterances.append(utterance)
            paths[utt] = path
        except (InputFileError, RuntimeError) as err:  # torchaudio's own errors do not name the file
            print(f"asr-lstm decode: skipped {path}: {str(err).removeprefix(f'{path}: ')}", file=sys.stderr)
    posteriors = recognizer.posteriors(utterances, args.batch_size)
    transcripts = recognizer.transcribe(utterances, posteriors, search, align=bool(args.align or args.plot))
    if args.plot:
        plot_all(recognizer, utterances, posteriors, transcripts, paths, Path(args.plot))
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    ctm = open(args.align, "w", encoding="utf-8") if args.align else None
    for t in transcripts:
        text = " ".join(t.tokens) if args.tokens and t.words is None else recognizer.text(t.tokens, t.words)
        if ctm:
            ctm.write(ctm_lines(t.id, t.segments))
        if args.json:
            record = {
                "id": t.id,
                "path": str(paths[t.id]),
                "tokens": t.tokens,
                "text": text,
                "confidence": t.confidence,
            }
            if t.words is not None:
                record["words"] = t.words
            if ctm:
                record["segments"] = [vars(s) for s in t.segments]
            out.write(json.dumps(record) + "\n")
        else:
            out.write(f"{t.id}\t{text}\n")
        if t.id in beside:
            write_text(beside[t.id], text + "\n")
    for handle in (out, ctm):
        if handle not in (None, sys.stdout):
            handle.close()
    if page_jobs:
        write_pages(page_jobs, {t.id: (recognizer.text(t.tokens, t.words), t.confidence) for t in transcripts})
    if args.score:
        extra = {
            "model": str(args.model),
            "search": search_config.describe(),
            "command": shlex.join(["asr-lstm", "decode", *argv]),
        }
        out_dir = Path(args.score)
        totals = score_hypotheses(refs, {t.id: t.tokens for t in transcripts}, labelling, out_dir, extra)
        for metric, total in totals.items():
            print(f"asr-lstm decode: {total.kaldi_line(metric)} -> {out_dir}", file=sys.stderr)
        rate = labelling.token_metric
        draw_confusion(read_confusions(out_dir / "confusions.json"), out_dir / "confusion.png",
                       f"{Path(args.model).name}: {totals[rate].kaldi_line(rate)}")  # fmt: skip
    failed = len(items) - len(utterances) + len(problems)
    if failed:
        print(f"asr-lstm decode: {failed} of {len(items) + len(problems)} inputs skipped", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
