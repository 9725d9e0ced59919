"""SpeechBrain's CRDNN-CTC with the settings of its TIMIT CTC recipe, trained on asr-lstm's prepared
TIMIT manifests. This script runs in a virtualenv that has speechbrain and not asr-lstm:
``scripts/peers/speechbrain_crdnn_timit.sh`` sets one up, runs this script and scores the output.

It reads ``<data>/{train,dev,test}.jsonl`` (audio path, 61 TIMIT phones) and folds the phones to the
39 of Lee & Hon. The folding comes from ``asr_lstm/resources/timit/phones.60-48-39.map``, read as a
file; ``q`` is dropped. Training follows SpeechBrain's ``recipes/TIMIT/ASR/CTC/hparams/train.yaml``:
- features: 40 mel filterbank (``Fbank``) with global input normalisation;
- model: ``speechbrain.lobes.models.CRDNN`` (CNN blocks, time pooling by 2, bidirectional Li-GRU
  layers, DNN blocks; LeakyReLU, dropout 0.15), a linear output and a log-softmax;
- loss: CTC with blank 0;
- optimiser: Adadelta (lr 1, rho 0.95, eps 1e-8), NewBob annealing on dev PER (factor 0.8,
  threshold 0.0025);
- data: batches of 8, sorted by duration;
- augmentation: the recipe's time-domain chain (speed 95/100/105 %, 1-3 frequency drops, 1-5 chunk
  drops, the original concatenated), except additive noise, whose noise corpus the recipe
  downloads.

``--size recipe`` is the recipe's network (CNN 128-256, 4 x 512 Li-GRU, 2 x 512 DNN). ``--size mini``
is the size of asr-lstm's ``experiment=crdnn`` (CNN 16-32, 3 x 160, 2 x 256). Training stops at the
end of the epoch that passes ``--minutes``, or after ``--max-epochs``. The best epoch by dev PER then
decodes dev and test greedily. Written to ``--out``: ``{dev,test}.ref`` and ``{dev,test}.hyp``
(id<TAB>phones, 39 set) and ``summary.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import soundfile as sf
import speechbrain as sb
import torch
from speechbrain.augment.augmenter import Augmenter
from speechbrain.augment.time_domain import DropChunk, DropFreq, SpeedPerturb
from speechbrain.dataio.dataset import DynamicItemDataset
from speechbrain.dataio.encoder import CTCTextEncoder
from speechbrain.lobes.features import Fbank
from speechbrain.lobes.models.CRDNN import CRDNN
from speechbrain.nnet.linear import Linear
from speechbrain.nnet.schedulers import NewBobScheduler, update_learning_rate
from speechbrain.processing.features import InputNormalization
from speechbrain.utils.checkpoints import Checkpointer
from speechbrain.utils.epoch_loop import EpochCounter
from speechbrain.utils.metric_stats import ErrorRateStats

FOLDING_MAP = Path(__file__).resolve().parents[2] / "asr_lstm/resources/timit/phones.60-48-39.map"
SIZES = {
    "recipe": {"cnn_channels": (128, 256), "rnn_layers": 4, "rnn_neurons": 512, "dnn_neurons": 512},
    "mini": {"cnn_channels": (16, 32), "rnn_layers": 3, "rnn_neurons": 160, "dnn_neurons": 256},
}


def folding() -> dict[str, str | None]:
    """61 TIMIT phones -> their 39-set phone (``None``: dropped, as ``q`` is)."""
    fold = {}
    for line in FOLDING_MAP.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if fields:
            fold[fields[0]] = fields[2] if len(fields) == 3 else None
    return fold


def dataset(path: Path, fold: dict[str, str | None]) -> DynamicItemDataset:
    """The manifest's utterances, each ``sig`` (its waveform) and ``phones`` (folded), sorted by duration."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    data = {
        row["id"]: {"wav": row["audio"], "duration": row["duration"],
                    "phones": [fold[p] for p in row["phones"] if fold[p] is not None]}
        for row in rows
    }  # fmt: skip
    items = DynamicItemDataset(data)

    @sb.utils.data_pipeline.takes("wav")
    @sb.utils.data_pipeline.provides("sig")
    def audio(wav: str) -> torch.Tensor:
        return torch.from_numpy(sf.read(wav, dtype="float32")[0])

    items.add_dynamic_item(audio)
    return items.filtered_sorted(sort_key="duration")


class TimedEpochs(EpochCounter):
    """Epochs until ``limit`` or until ``seconds`` have passed since the first one began."""

    def __init__(self, limit: int, seconds: float):
        super().__init__(limit)
        self.seconds, self.start = seconds, None

    def __next__(self) -> int:
        self.start = self.start or time.monotonic()
        if time.monotonic() - self.start >= self.seconds:
            raise StopIteration
        return super().__next__()


class CTCBrain(sb.Brain):
    """The recipe's forward pass, CTC objective, NewBob annealing and best-by-PER checkpoints."""

    def compute_forward(self, batch, stage):
        batch = batch.to(self.device)
        wavs, lens = batch.sig
        if stage == sb.Stage.TRAIN:
            wavs, lens = self.hparams.wav_augment(wavs, lens)
        feats = self.modules.normalize(self.hparams.fbank(wavs), lens)
        return self.modules.output(self.modules.model(feats)).log_softmax(-1), lens

    def compute_objectives(self, predictions, batch, stage):
        log_probs, lens = predictions
        phones, phone_lens = batch.phones_encoded
        if stage == sb.Stage.TRAIN:
            phones, phone_lens = self.hparams.wav_augment.replicate_multiple_labels(phones, phone_lens)
        loss = sb.nnet.losses.ctc_loss(log_probs, phones, lens, phone_lens, blank_index=0)
        if stage != sb.Stage.TRAIN:
            hyps = sb.decoders.ctc_greedy_decode(log_probs, lens, blank_id=0)
            self.per.append(ids=batch.id, predict=hyps, target=phones, target_len=phone_lens,
                            ind2lab=self.encoder.decode_ndim)  # fmt: skip
            self.hyps.update(zip(batch.id, self.encoder.decode_ndim(hyps)))
        return loss

    def on_stage_start(self, stage, epoch=None):
        if stage != sb.Stage.TRAIN:
            self.per, self.hyps = ErrorRateStats(), {}

    def on_stage_end(self, stage, stage_loss, epoch=None):
        if stage == sb.Stage.VALID:
            per = self.per.summarize("error_rate")
            old_lr, new_lr = self.hparams.annealing(per)
            update_learning_rate(self.optimizer, new_lr)
            self.history.append({"epoch": epoch, "lr": old_lr, "dev_loss": stage_loss, "dev_per": per})
            print(json.dumps(self.history[-1]), flush=True)
            self.checkpointer.save_and_keep_only(meta={"PER": per}, min_keys=["PER"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--data", type=Path, required=True, help="folder of train/dev/test.jsonl (recipes/timit/data/timit)"
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--size", choices=tuple(SIZES), default="mini")
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--max-epochs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1986)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sb.utils.seed.seed_everything(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    fold = folding()
    train, dev, test = (dataset(args.data / f"{split}.jsonl", fold) for split in ("train", "dev", "test"))
    encoder = CTCTextEncoder()
    phones = sorted({phone for phone in fold.values() if phone is not None})  # the 39, all of them outputs
    encoder.load_or_create(path=args.out / "label_encoder.txt", from_iterables=[phones],
                           special_labels={"blank_label": 0})  # fmt: skip
    encoder.expect_len(len(phones) + 1)

    @sb.utils.data_pipeline.takes("phones")
    @sb.utils.data_pipeline.provides("phones_encoded")
    def encoded(phones: list[str]) -> torch.Tensor:
        return encoder.encode_sequence_torch(phones)

    sb.dataio.dataset.add_dynamic_item([train, dev, test], encoded)
    sb.dataio.dataset.set_output_keys([train, dev, test], ["id", "sig", "phones_encoded"])

    size = SIZES[args.size]
    model = CRDNN(input_size=40, activation=torch.nn.LeakyReLU, dropout=0.15, cnn_blocks=2,
                  cnn_channels=size["cnn_channels"], cnn_kernelsize=(3, 3), time_pooling=True,
                  rnn_layers=size["rnn_layers"], rnn_neurons=size["rnn_neurons"], rnn_bidirectional=True,
                  dnn_blocks=2, dnn_neurons=size["dnn_neurons"])  # fmt: skip
    modules = {
        "model": model,
        "output": Linear(input_size=size["dnn_neurons"], n_neurons=len(encoder)),
        "normalize": InputNormalization(norm_type="global"),
    }
    epochs = TimedEpochs(args.max_epochs, 60 * args.minutes)
    hparams = {
        "fbank": Fbank(sample_rate=16000, n_fft=400, n_mels=40),
        "wav_augment": Augmenter(
            concat_original=True, min_augmentations=3, max_augmentations=3, augment_prob=1.0,
            augmentations=[SpeedPerturb(orig_freq=16000, speeds=[95, 100, 105]),
                           DropFreq(drop_freq_low=0, drop_freq_high=1, drop_freq_count_low=1,
                                    drop_freq_count_high=3, drop_freq_width=0.05),
                           DropChunk(drop_length_low=1000, drop_length_high=2000, drop_count_low=1,
                                     drop_count_high=5)],
        ),
        "annealing": NewBobScheduler(initial_value=1.0, improvement_threshold=0.0025, annealing_factor=0.8, patient=0),
    }  # fmt: skip
    checkpointer = Checkpointer(args.out / "save", recoverables={**modules, "counter": epochs})
    brain = CTCBrain(
        modules=modules,
        opt_class=lambda params: torch.optim.Adadelta(params, lr=1.0, rho=0.95, eps=1e-8),
        hparams=hparams,
        run_opts={"device": "cpu", "noprogressbar": True},
        checkpointer=checkpointer,
    )
    brain.encoder, brain.history = encoder, []
    start = time.monotonic()
    brain.fit(epochs, train, dev, train_loader_kwargs={"batch_size": 8, "shuffle": False},
              valid_loader_kwargs={"batch_size": 8})  # fmt: skip
    train_seconds = time.monotonic() - start
    for split, items in (("dev", dev), ("test", test)):
        brain.evaluate(items, min_key="PER", test_loader_kwargs={"batch_size": 8})
        with (
            open(args.out / f"{split}.hyp", "w", encoding="utf-8") as hyp,
            open(args.out / f"{split}.ref", "w", encoding="utf-8") as ref,
        ):
            for utt in sorted(brain.hyps):
                hyp.write(f"{utt}\t{' '.join(brain.hyps[utt])}\n")
                ref.write(f"{utt}\t{' '.join(items.data[utt]['phones'])}\n")
    summary = {
        "toolkit": f"speechbrain {sb.__version__}",
        "size": args.size,
        "parameters": sum(p.numel() for m in modules.values() for p in m.parameters()),
        "epochs": epochs.current,
        "train_time_s": train_seconds,
        "threads": args.threads,
        "history": brain.history,
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
