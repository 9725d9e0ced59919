"""The directions of a layer as one batch: the per-direction products torch does beside the kernels, and
the refusals where no kernels run (the kernels themselves: ``test_fused.py``)."""

import pytest
import torch

from asr_lstm import cells
from asr_lstm.cells import directions, recurrence
from asr_lstm.models.recurrent import both_directions


def test_a_stack_of_weights_multiplies_each_directions_rows_by_its_own():
    torch.manual_seed(0)
    rows = torch.randn(2 * 3, 4)  # direction 0: rows 0-2, direction 1: rows 3-5
    weight = torch.randn(2, 4, 5)
    expected = torch.cat([rows[:3] @ weight[0], rows[3:] @ weight[1]])
    torch.testing.assert_close(directions.times(rows, weight), expected)
    torch.testing.assert_close(directions.times(rows, weight[0]), rows @ weight[0])
    assert directions.count(weight) == 2 and directions.count(weight[0]) == 1 and directions.count(None) == 1


def test_weight_gradients_are_summed_over_steps_direction_by_direction():
    torch.manual_seed(1)
    steps, batch = 4, 3
    left, right = torch.randn(steps, 2 * batch, 5), torch.randn(steps, 2 * batch, 6)
    expected = torch.stack(
        [
            sum(left[t, d * batch : (d + 1) * batch].t() @ right[t, d * batch : (d + 1) * batch] for t in range(steps))
            for d in range(2)
        ]
    )
    torch.testing.assert_close(directions.summed_products(left, right, 2), expected)
    torch.testing.assert_close(
        directions.summed_products(left, right, 1), sum(left[t].t() @ right[t] for t in range(steps))
    )
    torch.testing.assert_close(
        directions.summed(left, 2), torch.stack([left[:, :batch].sum((0, 1)), left[:, batch:].sum((0, 1))])
    )
    torch.testing.assert_close(directions.summed(left, 1), left.sum((0, 1)))


def test_stacked_weights_are_refused_where_no_kernels_run():
    cell = cells.build("nog", 4, 6)
    xw = torch.zeros(3, 2 * 2, 24)
    state = (torch.zeros(4, 6), torch.zeros(4, 6))
    stacked = torch.stack([cell.weight_hh, cell.weight_hh])
    assert not recurrence.runs_directions_together(xw, cell.variant, None)
    with pytest.raises(ValueError, match=r"weights stacked for 2 directions \(weight_hh \(2, 24, 6\)\) run only on"):
        recurrence.lstm_recurrence(xw, stacked, state, cell.variant, cell.activation_names)


def test_without_kernels_a_layers_directions_run_one_after_the_other():
    torch.manual_seed(2)
    first, second = cells.build("nog", 4, 6), cells.build("nog", 4, 6)
    x, x_reversed = torch.randn(3, 2, 4), torch.randn(3, 2, 4)
    assert not first.pairs_with(second, x)
    y, y_other = both_directions(first, second, x, x_reversed)
    torch.testing.assert_close(y, first(x)[0])
    torch.testing.assert_close(y_other, second(x_reversed)[0])
    with pytest.raises(ValueError, match="NOG cannot run with NOG as one batch here"):
        first.forward_pair(second, x, x_reversed)
