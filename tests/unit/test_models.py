"""Frontend, padded reversal, padding invariance of the encoder, greedy decoding, CTC feasibility."""

import functools

import pytest
import torch
from lightning_fabric.utilities.data import _set_sampler_epoch

from asr_lstm import cells
from asr_lstm.data.datamodule import collate, ctc_min_frames
from asr_lstm.data.sampler import BucketBatchSampler, ResumableLoader
from asr_lstm.decoding import greedy_decode, label_starts
from asr_lstm.models import ConvFrontEnd, CTCModel, DenseBlocks, FrameStacking, StackedRNN
from asr_lstm.models.padding import reverse_padded
from tests.conftest import DEVICES


def test_frame_stacking_known_values():
    x = torch.arange(5.0).reshape(1, 5, 1)
    y, lens = FrameStacking(stack=2, stride=2)(x, torch.tensor([5]))
    assert y.squeeze(0).tolist() == [[0.0, 1.0], [2.0, 3.0], [4.0, 0.0]]
    assert lens.tolist() == [3]
    y, lens = FrameStacking(stack=3, stride=1)(x, torch.tensor([4]))
    assert y.shape == (1, 5, 3) and y[0, 3].tolist() == [3.0, 4.0, 0.0] and lens.tolist() == [4]


def test_reverse_padded_reverses_within_each_length():
    x = torch.tensor([[1, 10], [2, 20], [3, 0]]).unsqueeze(2)  # (T=3, B=2, 1); second sequence has length 2
    y = reverse_padded(x, torch.tensor([3, 2]))
    assert y.squeeze(2).T.tolist() == [[3, 2, 1], [20, 10, 0]]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("bidirectional", [True, False], ids=["bidirectional", "forward only"])
def test_padding_invariance(device, dtype, bidirectional):
    torch.manual_seed(0)
    build = functools.partial(cells.build, "lstm")
    model = CTCModel(6, 5, build, hidden_size=8, num_layers=2, stack=2, stride=2, bidirectional=bidirectional)
    model = model.to(device=device, dtype=dtype).eval()
    seqs = [torch.randn(n, 6, dtype=dtype, device=device) for n in (13, 7, 10)]
    batch = collate([(str(i), s, torch.tensor([1])) for i, s in enumerate(seqs)])
    with torch.no_grad():
        out, lens = model(batch["x"], batch["x_lens"].to(device))
        for i, s in enumerate(seqs):
            alone, alone_len = model(s.unsqueeze(0), torch.tensor([len(s)], device=device))
            assert lens[i] == alone_len[0]
            torch.testing.assert_close(out[i, : lens[i]], alone[0], atol=1e-5, rtol=1e-5)


def test_a_forward_only_stack_is_its_cells_one_after_the_other():
    torch.manual_seed(0)
    stack = StackedRNN(functools.partial(cells.build, "peephole_diag"), 3, 4, num_layers=2, bidirectional=False)
    stack = stack.double().eval()
    assert stack.features == 4 and len(stack.backward_layers) == 0 and stack.forward_layers[1].input_size == 4
    x, lens = torch.randn(9, 2, 3, dtype=torch.float64), torch.tensor([9, 6])
    with torch.no_grad():
        out = stack(x, lens)
        expected = stack.forward_layers[1](stack.forward_layers[0](x)[0])[0]
    torch.testing.assert_close(out[:, 0], expected[:, 0], atol=0, rtol=0)
    torch.testing.assert_close(out[:6, 1], expected[:6, 1], atol=0, rtol=0)
    assert out[6:, 1].abs().sum() == 0


@pytest.mark.parametrize("bidirectional", [True, False], ids=["bidirectional", "forward only"])
def test_a_forward_only_models_output_frame_reads_no_later_input_frame(bidirectional):
    """With frames stacked 3 at a stride of 2, output frame k reads input frames up to 2k + 2 alone;
    the bidirectional model reads them all."""
    torch.manual_seed(0)
    build = functools.partial(cells.build, "lstm")
    model = CTCModel(6, 5, build, hidden_size=8, num_layers=2, stack=3, stride=2, bidirectional=bidirectional).eval()
    assert model.output.in_features == (16 if bidirectional else 8)
    x, lens = torch.randn(1, 20, 6), torch.tensor([20])
    changed = x.clone()
    changed[0, 11:] = torch.randn(9, 6)  # frames 11...: output frames 5... read them
    with torch.no_grad():
        (out, _), (out_changed, _) = model(x, lens), model(changed, lens)
    assert torch.equal(out[0, :5], out_changed[0, :5]) != bidirectional
    assert not torch.equal(out[0, 5], out_changed[0, 5])


CONV = {"channels": [4, 8, 8], "pools": [[2, 2], [2, 1], [1, 2]], "dropout": [0.0, 0.2, 0.2]}


@pytest.mark.parametrize("frames", [4, 5, 13, 38])
@pytest.mark.parametrize("height", [7, 16, 21])
def test_conv_front_end_output_lengths_for_odd_widths_and_heights(frames, height):
    front = ConvFrontEnd(height, **CONV).eval()
    y, lens = front(torch.randn(2, frames, height), torch.tensor([frames, frames // 2]))
    assert y.shape == (2, frames // 4, 8 * (height // 4)) and front.output_size == 8 * (height // 4)
    assert front.output_length(frames) == frames // 4 == lens[0].item() and front.stride == 4
    assert lens[1].item() == frames // 2 // 4


def test_conv_front_end_splits_a_frame_into_planes_and_refuses_what_cannot_be_built():
    front = ConvFrontEnd(12, channels=[3], pools=[[1, 1]], in_channels=3, batch_norm=False)
    with torch.no_grad():
        front.blocks[0].conv.weight.zero_()
        front.blocks[0].conv.weight[0, 2, 1, 1] = 1.0  # channel 0 copies plane 2 (features 8..11)
        front.blocks[0].conv.bias.zero_()
    x = torch.arange(24.0).reshape(1, 2, 12)
    y, _ = front(x, torch.tensor([2]))
    assert y[0, :, :4].tolist() == [[8.0, 9.0, 10.0, 11.0], [20.0, 21.0, 22.0, 23.0]]  # channel 0, 4 features
    with pytest.raises(ValueError, match="in_channels=5 does not divide the feature dimension 12"):
        ConvFrontEnd(12, in_channels=5)
    with pytest.raises(ValueError, match="reduce the 3 features of a plane to none"):
        ConvFrontEnd(3, channels=[4, 4], pools=[[2, 1], [2, 1]])
    with pytest.raises(ValueError, match="kernel must be odd"):
        ConvFrontEnd(8, channels=[4], pools=[[1, 1]], kernel=4)
    with pytest.raises(ValueError, match="model.conv pools time itself"):
        CTCModel(8, 3, functools.partial(cells.build, "lstm"), stack=2, stride=2, conv=CONV)


def test_a_conv_models_output_does_not_depend_on_the_rest_of_its_batch():
    torch.manual_seed(0)
    model = CTCModel(16, 5, functools.partial(cells.build, "lstm"), hidden_size=8, num_layers=1, stack=1, stride=1,
                     conv=CONV, dnn={"layers": 2, "size": 6}).eval()  # fmt: skip
    for module in model.modules():  # batch norm with statistics of its own, as after training
        if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
    seqs = [torch.randn(n, 16) for n in (29, 9, 17)]
    batch = collate([(str(i), s, torch.tensor([1])) for i, s in enumerate(seqs)])
    batch["x"][1, 9:] = 100.0  # the padding holds garbage
    with torch.no_grad():
        out, lens = model(batch["x"], batch["x_lens"])
        for i, s in enumerate(seqs):
            alone, alone_len = model(s.unsqueeze(0), torch.tensor([len(s)]))
            assert lens[i] == alone_len[0] == len(s) // 4
            torch.testing.assert_close(out[i, : lens[i]], alone[0], atol=1e-5, rtol=1e-5)


def test_dense_blocks_take_their_training_statistics_from_the_utterances_frames_only():
    torch.manual_seed(0)
    dense = DenseBlocks(4, layers=2, size=3, dropout=0.0).train()
    x, lens = torch.randn(2, 7, 4), torch.tensor([7, 4])
    padded = torch.cat([x, torch.full((2, 5, 4), 50.0)], dim=1)  # longer padding, of garbage
    out_padded = dense(padded, lens)
    frames = torch.cat([x[0], x[1, :4]])  # the first block's batch norm saw exactly these 11 frames
    with torch.no_grad():
        expected = 0.1 * dense.blocks[0](frames).mean(0)  # running mean after one step, momentum 0.1
    torch.testing.assert_close(dense.blocks[1].running_mean, expected)
    torch.testing.assert_close(dense(x, lens), out_padded[:, :7])
    assert out_padded[1, 4:].abs().sum() == 0
    with pytest.raises(ValueError, match="model.dnn.activation must be one of"):
        DenseBlocks(4, activation="tanh")


def test_output_length_matches_forward():
    model = CTCModel(4, 3, functools.partial(cells.build, "lstm"), hidden_size=4, num_layers=1, stack=3, stride=3)
    out, lens = model(torch.zeros(1, 10, 4), torch.tensor([10]))
    assert out.shape[1] == model.output_length(10) == lens.item() == 4
    assert torch.allclose(out.exp().sum(-1), torch.ones(1, 4))


def test_greedy_decode_merges_repeats_and_drops_blanks():
    # best path over 7 frames: 1 1 0 1 2 2 0 -> 1 1 2 ; second utterance only has 2 valid frames: 2 0 -> 2
    path = torch.tensor([[1, 1, 0, 1, 2, 2, 0], [2, 0, 1, 1, 1, 1, 1]])
    log_probs = torch.nn.functional.one_hot(path, 3).float().log()
    assert greedy_decode(log_probs, torch.tensor([7, 2])) == [[1, 1, 2], [2]]


def test_label_starts_are_the_frames_where_greedys_labels_begin():
    assert label_starts([1, 1, 0, 1, 2, 2, 0]) == [(0, 1), (3, 1), (4, 2)]
    assert label_starts([1, 1, 2], previous=1) == [(2, 2)]  # a run going on from the frame before
    assert label_starts([0, 0]) == [] and label_starts([]) == []


def test_ctc_min_frames_counts_blanks_between_repeats():
    assert ctc_min_frames([1, 2, 3]) == 3
    assert ctc_min_frames([1, 1, 2, 2, 2]) == 8
    assert ctc_min_frames([]) == 0


def test_bucket_sampler_covers_everything_once_with_limits():
    lengths = [5, 50, 7, 48, 6, 49, 30, 31, 29, 8]
    sampler = BucketBatchSampler(lengths, batch_size=3, max_frames=100, shuffle=True, sort_window=2, seed=0)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(10))
    assert all(len(b) <= 3 and max(lengths[i] for i in b) * len(b) <= 100 for b in batches)
    sampler.set_epoch(1)
    assert list(sampler) != batches
    sampler.set_epoch(0)
    assert list(sampler) == batches  # the same epoch replays the same order (resume)
    ordered = list(BucketBatchSampler(lengths, batch_size=4, shuffle=False))
    assert ordered == [[0, 4, 2, 9], [8, 6, 7, 3], [5, 1]]  # length order, consecutive


def test_lightning_sets_the_training_loaders_epoch_and_a_resume_continues_inside_it():
    lengths = [5, 50, 7, 48, 6, 49, 30, 31, 29, 8]
    sampler = BucketBatchSampler(lengths, batch_size=2, shuffle=True, seed=0)
    loader = ResumableLoader(list(range(10)), sampler, collate_fn=lambda batch: batch)
    epoch0 = list(loader)
    _set_sampler_epoch(loader, 1)  # what Lightning calls at every epoch's start
    epoch1 = list(loader)
    assert epoch1 != epoch0 and sorted(i for b in epoch1 for i in b) == list(range(10))
    taken = iter(loader)
    first_two = [next(taken), next(taken)]
    state = loader.state_dict()
    assert state == {"epoch": 1, "position": 2}
    resumed = ResumableLoader(list(range(10)), BucketBatchSampler(lengths, batch_size=2, seed=0), collate_fn=list)
    resumed.load_state_dict(state)
    assert first_two + list(resumed) == epoch1 and resumed.state_dict() == {"epoch": 1, "position": 5}
    resumed.load_state_dict({"epoch": 1, "position": 5})  # a checkpoint of the epoch's end: the next epoch
    assert resumed.batch_sampler.epoch == 2 and len(list(resumed)) == 5


def test_init_range_draws_every_parameter_uniformly():
    torch.manual_seed(0)
    model = CTCModel(8, 7, functools.partial(cells.build, "lstm"), hidden_size=16, num_layers=2, init_range=0.1)
    values = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert values.abs().max() <= 0.1 and values.min() < -0.09 and values.max() > 0.09
    assert abs(values.std().item() - 0.1 / 3**0.5) < 0.005  # the standard deviation of U[-a, a]
    default = CTCModel(8, 7, functools.partial(cells.build, "lstm"), hidden_size=16, num_layers=2)
    assert (torch.cat([p.detach().flatten() for p in default.parameters()]) == 1.0).any()  # forget-gate bias kept
