"""Latency-controlled bidirectional stacks (Zhang et al. 2016): the batched windows against the
definition run window by window, which frames an output reads, gradients, and the options' refusals."""

import functools

import pytest
import torch
from torch.func import functional_call

from asr_lstm import cells
from asr_lstm.models import CTCModel, StackedRNN
from tests.conftest import DEVICES

CELLS = {"lstm": {}, "peephole_diag": {}, "lstmp": {"proj_size": 3}, "gru": {}, "ligru": {}}


def stack_of(name: str, chunk: int | None, right: int = 0, input_size: int = 3, layers: int = 2) -> StackedRNN:
    torch.manual_seed(0)
    build = functools.partial(cells.build, name, **CELLS[name])
    stack = StackedRNN(build, input_size, 4, layers, chunk=chunk, right_context=right).double().eval()
    with torch.no_grad():  # every weight random, peepholes included, so that each term shows
        for p in stack.parameters():
            p.copy_(0.5 * torch.randn_like(p))
    return stack


def by_definition(stack: StackedRNN, x: torch.Tensor, chunk: int, right: int) -> torch.Tensor:
    """One sequence ``x (T, D)`` window by window: window k holds frames k N_c ... k N_c + N_c + N_r - 1
    (those of them in the input); every layer runs its forward direction over the chunk from the state
    it had at the end of the last chunk, then on over the right context, and its backward direction
    over the window from zero. Returns the outputs at each chunk's frames, ``(T, 2 H)``."""
    states: list = [None] * len(stack.forward_layers)
    outputs = []
    for start in range(0, len(x), chunk):
        u = x[start : start + chunk + right].unsqueeze(1)  # (W, 1, D)
        n = min(chunk, len(x) - start)
        for layer, (fwd, bwd) in enumerate(zip(stack.forward_layers, stack.backward_layers)):
            y_chunk, states[layer] = fwd(u[:n], states[layer])
            y_fwd = torch.cat([y_chunk, fwd(u[n:], states[layer])[0]]) if len(u) > n else y_chunk
            u = torch.cat([y_fwd, bwd(u.flip(0))[0].flip(0)], dim=2)
        outputs.append(u[:n, 0])
    return torch.cat(outputs)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("chunk", "right"), [(3, 2), (4, 0), (2, 5), (1, 1)])
@pytest.mark.parametrize("name", CELLS)
def test_a_padded_batch_gives_each_sequence_its_windows_by_definition(name, chunk, right, device):
    """On CUDA the cells but ``lstm`` run the fused kernels, from the windows' stacked states."""
    stack = stack_of(name, chunk, right).to(device)
    lens = torch.tensor([11, 7, 1, 9])
    x = torch.randn(11, 4, 3, dtype=torch.float64, device=device)
    with torch.no_grad():
        y = stack(x, lens)
        for b, length in enumerate(lens.tolist()):
            torch.testing.assert_close(y[:length, b], by_definition(stack, x[:length, b], chunk, right))
            assert not y[length:, b].any()


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_one_chunk_as_long_as_the_input_is_the_bidirectional_stack(name):
    whole = stack_of(name, None)
    controlled = stack_of(name, 11)
    x, lens = torch.randn(11, 3, 3, dtype=torch.float64), torch.tensor([11, 6, 2])
    with torch.no_grad():
        torch.testing.assert_close(controlled(x, lens), whole(x, lens), rtol=0, atol=1e-12)
        assert not torch.allclose(stack_of(name, 5)(x, lens), whole(x, lens))  # shorter chunks read less


@pytest.mark.parametrize(("chunk", "right"), [(4, 3), (3, 0), (2, 6)])
def test_an_output_frame_reads_its_past_and_its_window_only(chunk, right):
    """Through frame stacking (2 frames by 2): changing input frame j changes exactly the output frames
    at or after j // 2 (the forward direction) and those whose window, their chunk and the N_r frames
    after it, holds frame j // 2."""
    torch.manual_seed(0)
    build = functools.partial(cells.build, "lstm")
    model = CTCModel(3, 5, build, hidden_size=6, num_layers=3, stack=2, stride=2, chunk_frames=chunk,
                     right_context_frames=right).double().eval()  # fmt: skip
    x = torch.randn(1, 40, 3, dtype=torch.float64)
    lens = torch.tensor([40])
    with torch.no_grad():
        out = model(x, lens)[0][0]
        for j in (0, 9, 22, 39):
            changed_x = x.clone()
            changed_x[0, j] += 1.0
            changed = (model(changed_x, lens)[0][0] - out).abs().amax(dim=1) > 1e-12
            frame = j // 2
            reads = [t >= frame or (t // chunk + 1) * chunk + right > frame for t in range(20)]
            assert changed.tolist() == reads, j


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_gradcheck_float64(name):
    """Gradients reach the input and every weight through the states carried from chunk to chunk, the
    right contexts and the windows' backward directions."""
    stack = stack_of(name, 2, 2, input_size=2).train()
    names = [n for n, _ in stack.named_parameters()]
    x = torch.randn(5, 2, 2, dtype=torch.float64, requires_grad=True)
    lens = torch.tensor([5, 3])

    def run(x, *params):
        return functional_call(stack, dict(zip(names, params)), (x, lens))

    params = [p.detach().requires_grad_() for p in stack.parameters()]
    assert torch.autograd.gradcheck(run, (x, *params))


def test_every_wrong_option_is_named_at_once():
    build = functools.partial(cells.build, "lstm")
    with pytest.raises(
        ValueError,
        match=r"model.chunk_frames=0 must be at least 1 \(or null: no latency control\); "
        r"model.right_context_frames=-1 must be at least 0; model.chunk_frames limits how far a backward "
        r"direction reads ahead; a forward-only model \(model.bidirectional=false\) has none",
    ):
        CTCModel(3, 5, build, chunk_frames=0, right_context_frames=-1, bidirectional=False)
    with pytest.raises(
        ValueError, match="model.right_context_frames is the context of a chunk: set model.chunk_frames"
    ):
        CTCModel(3, 5, build, right_context_frames=4)
