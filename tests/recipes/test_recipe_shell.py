"""recipes/common/recipe.sh, the shell every run.sh sources: option parsing (stages and paths checked),
stage selection and the --overwrite clean-up, run in bash against throw-away folders."""

import subprocess
from pathlib import Path

import pytest
from omegaconf import OmegaConf

COMMON = Path(__file__).resolve().parents[2] / "recipes" / "common" / "recipe.sh"
OPTIONS = 'stage=0; stop_stage=6; work=.; lm_weight=0.8; overwrite=false; usage() { echo "usage: run.sh ..."; }'


def bash(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", f"set -euo pipefail; source {COMMON}; {script}", "run.sh", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_options_set_their_variables_and_flags_turn_on():
    done = bash(
        f'{OPTIONS}; parse_options "stage stop_stage work lm_weight overwrite" "$@"; echo "$stage $stop_stage $work $lm_weight $overwrite"',
        "--stop-stage",
        "4",
        "--lm_weight",
        "1.2",
        "--overwrite",
        "--work",
        "/tmp/a b",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "0 4 /tmp/a b 1.2 true\n"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--bogus", "1"], "run.sh: unknown option --bogus"),
        (["stage", "1"], "run.sh: unknown option stage"),
        (["--usage", "1"], "run.sh: unknown option --usage"),  # a variable of run.sh, but not an option
        (["--stage"], "run.sh: --stage needs a value"),
    ],
)
def test_bad_options_are_refused_with_exit_code_2(args, message):
    done = bash(f'{OPTIONS}; usage=x; parse_options "stage stop_stage" "$@"; echo parsed', *args)
    assert done.returncode == 2 and "parsed" not in done.stdout
    assert message in done.stderr


@pytest.mark.parametrize(
    "args, messages",
    [
        (["--stage", "9"], ["--stage 9: not a stage of this recipe (0 to 6)"]),
        (
            ["--stage", "x", "--stop-stage", "-1"],
            ["--stage x: not a stage of this recipe (0 to 6)", "--stop-stage -1: not a stage of this recipe (0 to 6)"],
        ),
        (["--stage", "4", "--stop-stage", "2"], ["--stage 4 comes after --stop-stage 2: no stage would run"]),
    ],
)
def test_stages_outside_the_recipe_are_refused_all_at_once(args, messages):
    done = bash(f'{OPTIONS}; parse_options "stage stop_stage" "$@"; echo parsed', *args)
    assert done.returncode == 2 and "parsed" not in done.stdout
    assert done.stderr.splitlines() == [f"run.sh: {m}" for m in messages]


def test_a_script_without_stages_parses_its_options():
    """scripts/peers/*.sh parse their options with the recipes' shell but have no stages to check."""
    done = bash('minutes=15; usage() { echo usage; }; parse_options "minutes" "$@"; echo "$minutes"', "--minutes", "3")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "3\n"


def test_path_options_become_absolute_and_every_missing_one_is_named(tmp_path):
    (tmp_path / "corpus").mkdir()
    script = f'cd {tmp_path}; corpus=corpus; results=RESULTS.md; empty=""; absolute_paths --dir corpus empty --file results; echo "$corpus $results $empty."'
    done = bash(script)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{tmp_path / 'corpus'} {tmp_path / 'RESULTS.md'} .\n"
    script = f"cd {tmp_path}; a=missing; b=corpus; lexicon=nowhere/lex.txt; absolute_paths --dir a b --file lexicon; echo done"
    done = bash(script)
    assert done.returncode == 2 and "done" not in done.stdout
    assert done.stderr.splitlines() == [
        "run.sh: --a missing: no such directory",
        "run.sh: --lexicon nowhere/lex.txt: no such directory nowhere",
    ]


def test_help_prints_the_usage():
    done = bash(f'{OPTIONS}; parse_options "stage" "$@"; echo parsed', "--help")
    assert done.returncode == 0 and done.stdout == "usage: run.sh ...\n"


def make_tree(root: Path) -> dict[str, Path]:
    paths = {
        "corpus": root / "data/mini/SPEAKER/u1.wav",
        "prepared": root / "data/c/.prepare.done",
        "features": root / "data/c/fbank-0123abcd/train.f32",
        "not features": root / "data/c/notes-x/keep.txt",
        "lm": root / "data/c/lm/lm.arpa",
        "checkpoint": root / "exp/e/checkpoints/last.ckpt",
        "decode": root / "exp/e/decode_test/hyp.txt",
        "export": root / "exp/e/model.asrlstm",
        "window graph": root / "exp/e/model.stream.onnx",
    }
    for path in paths.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    return paths


@pytest.mark.parametrize(
    "stages, given_corpus, removed",
    [
        ("0 6", "", {"corpus", "prepared", "features", "lm", "checkpoint", "decode", "export", "window graph"}),
        ("0 1", "/corpora/TIMIT", {"prepared"}),  # a user's corpus is never removed
        ("2 2", "", {"features"}),
        ("4 5", "", {"lm", "decode", "export", "window graph"}),
    ],
)
def test_overwrite_removes_what_the_selected_stages_made(tmp_path, stages, given_corpus, removed):
    paths = make_tree(tmp_path)
    first, last = stages.split()
    done = bash(
        f"stage={first}; stop_stage={last}; data={tmp_path}/data/c; exp={tmp_path}/exp/e; "
        f'overwrite_stages "{given_corpus}" {tmp_path}/data/mini'
    )
    assert done.returncode == 0, done.stderr
    assert f"--overwrite: redoing stages {first}..{last}" in done.stdout
    assert {name for name, path in paths.items() if not path.exists()} == removed


@pytest.mark.parametrize(
    "model, controlled",
    [({"chunk_frames": 10, "right_context_frames": 5}, True), ({"chunk_frames": None, "right_context_frames": 0}, False),
     ({"hidden_size": 8}, False), (None, False)],
    ids=["chunks", "whole input", "a run from before the option", "no config"],
)  # fmt: skip
def test_the_export_stage_tells_a_latency_controlled_run_whose_onnx_graph_is_a_window_graph(
    tmp_path, model, controlled
):
    """The run's config.yaml as training writes it (OmegaConf), other nodes around the model's."""
    if model is not None:
        config = {"cell": {"name": "lstm"}, "model": {"hidden_size": 8, **model}, "trainer": {"max_epochs": 3}}
        OmegaConf.save(OmegaConf.create(config), tmp_path / "config.yaml")
    done = bash(f"latency_controlled {tmp_path}")
    assert (done.returncode == 0) == controlled and done.stderr == ""
