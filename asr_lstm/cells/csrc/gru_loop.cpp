// The time loops of the GRU (asr_lstm/cells/gru.py: Cho et al. 2014, the reset gate before U_n) and the
// Li-GRU (asr_lstm/cells/ligru.py: Ravanelli et al. 2018) on CPU, forward and hand-derived backward, as
// ATen operators (torch.ops.asr_lstm.gru_loop_forward / gru_loop_backward, ligru_loop_forward /
// ligru_loop_backward). The equations and buffers are those of the Python loops in those files, whose
// weight gradients after the loop are shared.
//
// The scheme of lstm_loop.cpp: the hidden units split into one block per thread, each thread multiplying
// by its own rows of U forward (columns backward), packed once per sequence, and doing its units'
// element-wise work in one vectorised pass; one team of threads runs the whole loop and meets at
// barriers. The Li-GRU's step is one phase (z and h~ from one product with U). The GRU's is two, since
// U_n multiplies r_t o h_{t-1} of every unit: each block's r_t, z_t and share of r_t o h_{t-1}, then,
// after the barrier, its n_t and h_t; backward, d loss / d (r_t o h_{t-1}) through U_n likewise waits
// for every unit's d n_t. Variational dropout's mask, zoneout and the Li-GRU's candidate dropout are done
// in the loop too, and so is the
// SLi-GRU's layer normalisation of U h_{t-1}, whose row statistics take a second phase each way.
#include <torch/library.h>

#include <optional>
#include <tuple>
#include <vector>

#include "loop_kernels.h"

namespace {

using namespace loop_kernels;

// h_t = z o h_{t-1} + (1 - z) o h~ (torch.lerp(h~, h_{t-1}, z)), then zoneout's d o h_{t-1} + (1 - d) o h_t.
template <typename T>
inline Vectorized<T> update(const Vectorized<T>& candidate, const Vectorized<T>& h_prev, const Vectorized<T>& z,
                            const T* zone, int64_t k, int64_t m) {
  const Vectorized<T> h = lerp(candidate, h_prev, z);
  return zone ? lerp(h, h_prev, Vectorized<T>::loadu(zone + k, m)) : h;
}

// The gradient reaching h_t (dh, and grad_y's share): under zoneout d's share goes straight to h_{t-1};
// returns d loss / d (the update) and sets direct to what reaches h_{t-1} other than through U.
template <typename T>
inline Vectorized<T> step_gradient(const T* dh, const T* grad_y, const T* zone, const Vectorized<T>& z, T* direct,
                                   int64_t k, int64_t m) {
  using V = Vectorized<T>;
  V dh_t = V::loadu(dh + k, m);
  if (grad_y) dh_t = dh_t + V::loadu(grad_y + k, m);
  V carry(T(0));
  if (zone) {
    carry = dh_t * V::loadu(zone + k, m);
    dh_t = dh_t - carry;
  }
  (dh_t * z + carry).store(direct + k, m);
  return dh_t;
}

// The gradient reaching block k's units of h_{t-1}, dh = direct + (extra + U's share) o mask, U's share
// being d loss / d pre-activations of step t (B, depth, row stride lda) times U's columns of the block.
template <typename T>
void gather_gradient(const T* dpre, int64_t lda, const Tensor& panels, const Tensor& product, const T* extra,
                     const T* direct, const T* mask, T* dh, const Block& block, int64_t batch, int64_t hidden) {
  const int64_t stride = product.size(1);
  T* share = product.mutable_data_ptr<T>();
  panel_gemm<T, kBackwardVectors>(dpre, lda, batch, panels, share, stride);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t jj = 0; jj < block.size; ++jj) {
      const int64_t k = b * hidden + block.begin + jj;
      const T through = share[b * stride + jj] + (extra ? extra[k] : T(0));
      dh[k] = direct[k] + (mask ? through * mask[k] : through);
    }
}

// The GRU forward over all steps: gates (T, B, 3H) the activations r, z, n; hs (T+1, B, H) with h_0 at 0;
// rh (T, B, H) the r_t o h_{t-1} (o mask) that U_n multiplies.
void gru_loop_forward(const Tensor& xw_in, const Tensor& weight_hh, const std::optional<Tensor>& mask,
                      const std::optional<Tensor>& zone, const Tensor& gates, const Tensor& hs, const Tensor& rh,
                      int64_t act_g, int64_t act_c) {
  const Tensor xw = xw_in.contiguous();
  check_buffers("gru_loop", {xw, gates, hs, rh});
  const int64_t steps = xw.size(0), batch = xw.size(1), hidden = hs.size(2), state = batch * hidden;
  const Tensor drop = mask.has_value() ? mask->contiguous() : Tensor();
  const Tensor zones = zone.has_value() ? zone->contiguous() : Tensor();
  // What U_rz multiplies: h_{t-1} o mask, written by each block for its units in the step's second phase
  // and read whole in the next step's first.
  Tensor masked = drop.defined() ? hs[0] * drop : Tensor();
  AT_DISPATCH_FLOATING_TYPES(xw.scalar_type(), "gru_loop_forward", [&] {
    using T = scalar_t;
    using V = Vectorized<T>;
    const std::vector<Block> blocks = split_units(hidden, V::size());
    const Tensor rz_rows = rows_by_block(weight_hh.narrow(0, 0, 2 * hidden), blocks, hidden, 2);
    const Tensor n_rows = rows_by_block(weight_hh.narrow(0, 2 * hidden, hidden), blocks, hidden, 1);
    std::vector<Tensor> rz_panels, rz_pre, n_panels, n_pre;
    for (const Block& block : blocks) {
      rz_panels.push_back(pack_panels<T, kForwardVectors>(rz_rows.narrow(0, 2 * block.begin, 2 * block.size).t()));
      rz_pre.push_back(at::empty({batch, rz_panels.back().size(0) * panel_width<T, kForwardVectors>()}, xw.options()));
      n_panels.push_back(pack_panels<T, kBackwardVectors>(n_rows.narrow(0, block.begin, block.size).t()));
      n_pre.push_back(at::empty({batch, n_panels.back().size(0) * panel_width<T, kBackwardVectors>()}, xw.options()));
    }
    const T* xw_p = xw.const_data_ptr<T>();
    const T* drop_p = data_or_null<T>(drop);
    const T* zone_p = data_or_null<T>(zones);
    T* gates_p = gates.mutable_data_ptr<T>();
    T* hs_p = hs.mutable_data_ptr<T>();
    T* rh_p = rh.mutable_data_ptr<T>();
    T* masked_p = masked.defined() ? masked.mutable_data_ptr<T>() : nullptr;
    const int64_t H = hidden;
    // r_t and z_t of block k's units, and their share of r_t o h_{t-1} (o mask).
    auto reset_step = [&](int64_t t, int64_t k) {
      const Block& block = blocks[k];
      const T* h_in = masked_p ? masked_p : hs_p + t * state;
      const int64_t stride = rz_pre[k].size(1), n = block.size;
      const T* pre = rz_pre[k].const_data_ptr<T>();
      panel_gemm<T, kForwardVectors>(h_in, H, batch, rz_panels[k], rz_pre[k].mutable_data_ptr<T>(), stride);
      for (int64_t b = 0; b < batch; ++b)
        for (int64_t jj = 0; jj < n; jj += V::size()) {
          const int64_t m = std::min<int64_t>(V::size(), n - jj), j = block.begin + jj, k_ = b * H + j;
          const T* xw_row = xw_p + t * 3 * state + b * 3 * H;
          T* gate_row = gates_p + t * 3 * state + b * 3 * H;
          const V r = activate(V::loadu(pre + b * stride + jj, m) + V::loadu(xw_row + j, m), act_g);
          const V z = activate(V::loadu(pre + b * stride + n + jj, m) + V::loadu(xw_row + H + j, m), act_g);
          r.store(gate_row + j, m);
          z.store(gate_row + H + j, m);
          (r * V::loadu(h_in + k_, m)).store(rh_p + t * state + k_, m);
        }
    };
    // n_t and h_t of block k's units, and h_t o mask for the next step.
    auto update_step = [&](int64_t t, int64_t k) {
      const Block& block = blocks[k];
      const int64_t stride = n_pre[k].size(1);
      const T* pre = n_pre[k].const_data_ptr<T>();
      panel_gemm<T, kBackwardVectors>(rh_p + t * state, H, batch, n_panels[k], n_pre[k].mutable_data_ptr<T>(), stride);
      for (int64_t b = 0; b < batch; ++b)
        for (int64_t jj = 0; jj < block.size; jj += V::size()) {
          const int64_t m = std::min<int64_t>(V::size(), block.size - jj), j = block.begin + jj, k_ = b * H + j;
          const T* xw_row = xw_p + t * 3 * state + b * 3 * H;
          T* gate_row = gates_p + t * 3 * state + b * 3 * H;
          const V n = activate(V::loadu(pre + b * stride + jj, m) + V::loadu(xw_row + 2 * H + j, m), act_c);
          const V z = V::loadu(gate_row + H + j, m);
          const V h = update(n, V::loadu(hs_p + t * state + k_, m), z, zone_p ? zone_p + t * state : nullptr, k_, m);
          n.store(gate_row + 2 * H + j, m);
          h.store(hs_p + (t + 1) * state + k_, m);
          if (masked_p) (h * V::loadu(drop_p + k_, m)).store(masked_p + k_, m);
        }
    };
    const int64_t count = static_cast<int64_t>(blocks.size());
    run_steps(steps, {{count, reset_step}, {count, update_step}});
  });
}

// The GRU backward, from the last step to the first: dh (B, H) holds the gradient reaching h_T on entry
// and that reaching h_0 on return; dpre (T, B, 3H) receives d loss / d pre-activations (r, z, n).
void gru_loop_backward(const Tensor& gates, const Tensor& hs, const std::optional<Tensor>& grad_y,
                       const Tensor& weight_hh, const std::optional<Tensor>& mask, const std::optional<Tensor>& zone,
                       const Tensor& dh, const Tensor& dpre, int64_t act_g, int64_t act_c) {
  check_buffers("gru_loop", {gates, hs, dh, dpre});
  const int64_t steps = gates.size(0), batch = gates.size(1), hidden = hs.size(2), state = batch * hidden;
  const Tensor grad_out = grad_y.has_value() ? grad_y->contiguous() : Tensor();
  const Tensor drop = mask.has_value() ? mask->contiguous() : Tensor();
  const Tensor zones = zone.has_value() ? zone->contiguous() : Tensor();
  // Per unit: what reaches h_{t-1} other than through U (z_t's and zoneout's), and d (r o h) o r_t.
  Tensor direct = at::empty_like(dh), through_reset = at::empty_like(dh);
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "gru_loop_backward", [&] {
    using T = scalar_t;
    using V = Vectorized<T>;
    const std::vector<Block> blocks = split_units(hidden, V::size());
    std::vector<Tensor> rz_panels, rz_share, n_panels, n_share;  // per block: U's columns; their product
    pack_columns<T, kBackwardVectors>(weight_hh.narrow(0, 0, 2 * hidden), blocks, batch, rz_panels, rz_share);
    pack_columns<T, kBackwardVectors>(weight_hh.narrow(0, 2 * hidden, hidden), blocks, batch, n_panels, n_share);
    const T* gates_p = gates.const_data_ptr<T>();
    const T* hs_p = hs.const_data_ptr<T>();
    const T* grad_p = data_or_null<T>(grad_out);
    const T* drop_p = data_or_null<T>(drop);
    const T* zone_p = data_or_null<T>(zones);
    T* dpre_p = dpre.mutable_data_ptr<T>();
    T* dh_p = dh.mutable_data_ptr<T>();
    T* direct_p = direct.mutable_data_ptr<T>();
    T* through_p = through_reset.mutable_data_ptr<T>();
    const int64_t H = hidden;
    // Step i, t = T - 1 - i: the gradient reaching block k's units of h_t through U_rz and U_n (from step
    // t + 1, whose d pre-activations are complete), then d loss / d z_t and d n_t; i = T only finishes
    // the gradient reaching h_0.
    auto update_step = [&](int64_t i, int64_t k) {
      const Block& block = blocks[k];
      const int64_t t = steps - 1 - i;
      if (t < steps - 1)
        gather_gradient(dpre_p + (t + 1) * 3 * state, 3 * H, rz_panels[k], rz_share[k], through_p, direct_p, drop_p,
                        dh_p, block, batch, H);
      if (t < 0) return;
      for (int64_t b = 0; b < batch; ++b)
        for (int64_t jj = 0; jj < block.size; jj += V::size()) {
          const int64_t m = std::min<int64_t>(V::size(), block.size - jj), j = block.begin + jj, k_ = b * H + j;
          const T* gate_row = gates_p + t * 3 * state + b * 3 * H;
          T* out = dpre_p + t * 3 * state + b * 3 * H;
          const V z = V::loadu(gate_row + H + j, m), n = V::loadu(gate_row + 2 * H + j, m);
          const V dh_t = step_gradient(dh_p, grad_p ? grad_p + t * state : nullptr,
                                       zone_p ? zone_p + t * state : nullptr, z, direct_p, k_, m);
          (dh_t * (V::loadu(hs_p + t * state + k_, m) - n) * derivative(z, act_g)).store(out + H + j, m);
          (dh_t * (V(T(1)) - z) * derivative(n, act_c)).store(out + 2 * H + j, m);
        }
    };
    // d loss / d (r_t o h_{t-1}) through U_n for block k's units, hence d loss / d r_t.
    auto reset_step = [&](int64_t i, int64_t k) {
      const Block& block = blocks[k];
      const int64_t t = steps - 1 - i;
      if (t < 0) return;
      const int64_t stride = n_share[k].size(1);
      T* share = n_share[k].mutable_data_ptr<T>();
      panel_gemm<T, kBackwardVectors>(dpre_p + t * 3 * state + 2 * H, 3 * H, batch, n_panels[k], share, stride);
      for (int64_t b = 0; b < batch; ++b)
        for (int64_t jj = 0; jj < block.size; jj += V::size()) {
          const int64_t m = std::min<int64_t>(V::size(), block.size - jj), j = block.begin + jj, k_ = b * H + j;
          const V r = V::loadu(gates_p + t * 3 * state + b * 3 * H + j, m), d_rh = V::loadu(share + b * stride + jj, m);
          V h_in = V::loadu(hs_p + t * state + k_, m);
          if (drop_p) h_in = h_in * V::loadu(drop_p + k_, m);
          (d_rh * h_in * derivative(r, act_g)).store(dpre_p + t * 3 * state + b * 3 * H + j, m);
          (d_rh * r).store(through_p + k_, m);
        }
    };
    const int64_t count = static_cast<int64_t>(blocks.size());
    run_steps(steps + 1, {{count, update_step}, {count, reset_step}});
  });
}

// The Li-GRU forward: gates (T, B, 2H) the activations z and h~ (m o h~ under the candidate's dropout mask
// dropped (B, H)); hs (T+1, B, H) with h_0 at 0. Under layer
// normalisation (the SLi-GRU) norm is u_hat (T, B, 2H), LN(U h_{t-1}), and rstd (T, B, 1), its
// 1 / sqrt(sigma^2 + eps), and a step has two phases: each block's product and its partial moments;
// after the barrier, the normalised pre-activations, the gates and h_t.
void ligru_loop_forward(const Tensor& xw_in, const Tensor& weight_hh, const std::optional<Tensor>& mask,
                        const std::optional<Tensor>& zone, const std::optional<Tensor>& dropped, const Tensor& gates,
                        const Tensor& hs, at::TensorList norm) {
  const Tensor xw = xw_in.contiguous();
  check_buffers("ligru_loop", {xw, gates, hs});
  TORCH_CHECK(norm.empty() || norm.size() == 2, "ligru_loop_forward: u_hat and rstd expected, got ", norm.size());
  const bool normalised = !norm.empty();
  if (normalised) check_buffers("ligru_loop", {xw, norm[0], norm[1]});
  const int64_t steps = xw.size(0), batch = xw.size(1), hidden = hs.size(2), state = batch * hidden;
  const Tensor drop = mask.has_value() ? mask->contiguous() : Tensor();
  const Tensor zones = zone.has_value() ? zone->contiguous() : Tensor();
  const Tensor candidate_mask = dropped.has_value() ? dropped->contiguous() : Tensor();
  // Under dropout, U's input h_{t-1} o mask: step t reads buffer t % 2, its blocks write the other.
  Tensor masked;
  if (drop.defined()) {
    masked = at::empty({2, batch, hidden}, xw.options());
    masked[0].copy_(hs[0] * drop);
  }
  AT_DISPATCH_FLOATING_TYPES(xw.scalar_type(), "ligru_loop_forward", [&] {
    using T = scalar_t;
    using V = Vectorized<T>;
    const std::vector<Block> blocks = split_units(hidden, V::size());
    const int64_t count = static_cast<int64_t>(blocks.size());
    const Tensor rows = rows_by_block(weight_hh, blocks, hidden, 2);
    std::vector<Tensor> panels, pre_block;
    for (const Block& block : blocks) {
      panels.push_back(pack_panels<T, kForwardVectors>(rows.narrow(0, 2 * block.begin, 2 * block.size).t()));
      pre_block.push_back(at::empty({batch, panels.back().size(0) * panel_width<T, kForwardVectors>()}, xw.options()));
    }
    const Tensor stats = at::empty({normalised ? count : 0, batch, 2}, xw.options());
    const T* xw_p = xw.const_data_ptr<T>();
    const T* drop_p = data_or_null<T>(drop);
    const T* zone_p = data_or_null<T>(zones);
    const T* dropped_p = data_or_null<T>(candidate_mask);
    T* gates_p = gates.mutable_data_ptr<T>();
    T* hs_p = hs.mutable_data_ptr<T>();
    T* masked_p = masked.defined() ? masked.mutable_data_ptr<T>() : nullptr;
    T* u_hat_p = normalised ? norm[0].mutable_data_ptr<T>() : nullptr;
    T* rstd_p = normalised ? norm[1].mutable_data_ptr<T>() : nullptr;
    T* stats_p = stats.mutable_data_ptr<T>();
    const int64_t H = hidden;
    auto product = [&](int64_t t, int64_t k) {  // the block's rows of U h_{t-1}, (B, 2 size), and their moments
      const int64_t stride = pre_block[k].size(1);
      const T* h_in = masked_p ? masked_p + (t % 2) * state : hs_p + t * state;
      T* pre = pre_block[k].mutable_data_ptr<T>();
      panel_gemm<T, kForwardVectors>(h_in, H, batch, panels[k], pre, stride);
      if (normalised)
        for (int64_t b = 0; b < batch; ++b) moments(pre + b * stride, 2 * blocks[k].size, stats_p + (k * batch + b) * 2);
    };
    auto update_step = [&](int64_t t, int64_t k) {
      const Block& block = blocks[k];
      const int64_t stride = pre_block[k].size(1), n = block.size;
      const T* pre = pre_block[k].const_data_ptr<T>();
      for (int64_t b = 0; b < batch; ++b) {
        T mean = 0, rstd = 1;
        if (normalised) {
          std::tie(mean, rstd) = combine_moments(stats_p, blocks, b, batch, 2);
          if (k == 0) rstd_p[t * batch + b] = rstd;
        }
        for (int64_t jj = 0; jj < n; jj += V::size()) {
          const int64_t m = std::min<int64_t>(V::size(), n - jj), j = block.begin + jj, k_ = b * H + j;
          const T* xw_row = xw_p + t * 2 * state + b * 2 * H;
          T* gate_row = gates_p + t * 2 * state + b * 2 * H;
          V u_z = V::loadu(pre + b * stride + jj, m), u_h = V::loadu(pre + b * stride + n + jj, m);
          if (normalised) {
            u_z = (u_z - V(mean)) * V(rstd);
            u_h = (u_h - V(mean)) * V(rstd);
            u_z.store(u_hat_p + t * 2 * state + b * 2 * H + j, m);
            u_h.store(u_hat_p + t * 2 * state + b * 2 * H + H + j, m);
          }
          const V z = activate(u_z + V::loadu(xw_row + j, m), kSigmoid);
          V candidate = activate(u_h + V::loadu(xw_row + H + j, m), kRelu);
          if (dropped_p) candidate = candidate * V::loadu(dropped_p + k_, m);
          const V h = update(candidate, V::loadu(hs_p + t * state + k_, m), z, zone_p ? zone_p + t * state : nullptr,
                             k_, m);
          z.store(gate_row + j, m);
          candidate.store(gate_row + H + j, m);
          h.store(hs_p + (t + 1) * state + k_, m);
          if (masked_p) (h * V::loadu(drop_p + k_, m)).store(masked_p + ((t + 1) % 2) * state + k_, m);
        }
      }
    };
    if (normalised) {
      run_steps(steps, {{count, product}, {count, update_step}});
    } else {
      run_steps(steps, {{count, [&](int64_t t, int64_t k) {
                           product(t, k);
                           update_step(t, k);
                         }}});
    }
  });
}

// The Li-GRU backward: dh (B, H) the gradient reaching h_T on entry, h_0 on return; dpre (T, B, 2H), whose
// candidate half is multiplied by the candidate's dropout mask dropped where there is one. Under
// layer normalisation norm is the forward's u_hat and rstd and d_u (T, B, 2H), d loss / d U h_{t-1}, which
// U's columns then carry back instead of dpre: each block sums dpre and dpre o u_hat over its entries of
// a row, and after the barrier d_u = rstd (dpre - mean(dpre) - u_hat mean(dpre o u_hat)).
void ligru_loop_backward(const Tensor& gates, const Tensor& hs, const std::optional<Tensor>& grad_y,
                         const Tensor& weight_hh, const std::optional<Tensor>& mask,
                         const std::optional<Tensor>& zone, const std::optional<Tensor>& dropped, const Tensor& dh,
                         const Tensor& dpre, at::TensorList norm) {
  check_buffers("ligru_loop", {gates, hs, dh, dpre});
  TORCH_CHECK(norm.empty() || norm.size() == 3, "ligru_loop_backward: u_hat, rstd and d_u expected, got ",
              norm.size());
  const bool normalised = !norm.empty();
  if (normalised) check_buffers("ligru_loop", {gates, norm[0], norm[1], norm[2]});
  const int64_t steps = gates.size(0), batch = gates.size(1), hidden = hs.size(2), state = batch * hidden;
  const Tensor grad_out = grad_y.has_value() ? grad_y->contiguous() : Tensor();
  const Tensor drop = mask.has_value() ? mask->contiguous() : Tensor();
  const Tensor zones = zone.has_value() ? zone->contiguous() : Tensor();
  const Tensor candidate_mask = dropped.has_value() ? dropped->contiguous() : Tensor();
  Tensor direct = at::empty_like(dh);
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "ligru_loop_backward", [&] {
    using T = scalar_t;
    using V = Vectorized<T>;
    const std::vector<Block> blocks = split_units(hidden, V::size());
    const int64_t count = static_cast<int64_t>(blocks.size());
    std::vector<Tensor> panels, shares;
    pack_columns<T, kBackwardVectors>(weight_hh, blocks, batch, panels, shares);
    const Tensor stats = at::empty({normalised ? count : 0, batch, 2}, gates.options());
    const T* gates_p = gates.const_data_ptr<T>();
    const T* hs_p = hs.const_data_ptr<T>();
    const T* grad_p = data_or_null<T>(grad_out);
    const T* drop_p = data_or_null<T>(drop);
    const T* zone_p = data_or_null<T>(zones);
    const T* dropped_p = data_or_null<T>(candidate_mask);
    const T* u_hat_p = normalised ? norm[0].const_data_ptr<T>() : nullptr;
    const T* rstd_p = normalised ? norm[1].const_data_ptr<T>() : nullptr;
    T* d_u_p = normalised ? norm[2].mutable_data_ptr<T>() : nullptr;
    T* stats_p = stats.mutable_data_ptr<T>();
    T* dh_p = dh.mutable_data_ptr<T>();
    T* dpre_p = dpre.mutable_data_ptr<T>();
    T* direct_p = direct.mutable_data_ptr<T>();
    const T* through_u = normalised ? d_u_p : dpre_p;  // what U's columns carry back to h_{t-1}
    const int64_t H = hidden;
    auto step = [&](int64_t i, int64_t k) {
      const Block& block = blocks[k];
      const int64_t t = steps - 1 - i;
      if (t < steps - 1)
        gather_gradient<T>(through_u + (t + 1) * 2 * state, 2 * H, panels[k], shares[k], nullptr, direct_p, drop_p,
                           dh_p, block, batch, H);
      if (t < 0) return;
      for (int64_t b = 0; b < batch; ++b) {
        V sum(T(0)), projected(T(0));
        for (int64_t jj = 0; jj < block.size; jj += V::size()) {
          const int64_t m = std::min<int64_t>(V::size(), block.size - jj), j = block.begin + jj, k_ = b * H + j;
          const int64_t row = t * 2 * state + b * 2 * H;
          const V z = V::loadu(gates_p + row + j, m), candidate = V::loadu(gates_p + row + H + j, m);
          const V dh_t = step_gradient(dh_p, grad_p ? grad_p + t * state : nullptr,
                                       zone_p ? zone_p + t * state : nullptr, z, direct_p, k_, m);
          const V d_z = dh_t * (V::loadu(hs_p + t * state + k_, m) - candidate) * derivative(z, kSigmoid);
          V d_h = dh_t * (V(T(1)) - z) * derivative(candidate, kRelu);
          if (dropped_p) d_h = d_h * V::loadu(dropped_p + k_, m);
          d_z.store(dpre_p + row + j, m);
          d_h.store(dpre_p + row + H + j, m);
          if (normalised) {  // zero beyond m: loadu's unfilled lanes are zero
            sum = sum + d_z + d_h;
            projected = at::vec::fmadd(d_z, V::loadu(u_hat_p + row + j, m), projected);
            projected = at::vec::fmadd(d_h, V::loadu(u_hat_p + row + H + j, m), projected);
          }
        }
        if (normalised) {
          stats_p[(k * batch + b) * 2] = horizontal_sum(sum);
          stats_p[(k * batch + b) * 2 + 1] = horizontal_sum(projected);
        }
      }
    };
    auto through_norm = [&](int64_t i, int64_t k) {
      const Block& block = blocks[k];
      const int64_t t = steps - 1 - i;
      if (t < 0) return;
      for (int64_t b = 0; b < batch; ++b) {
        const auto [mean_g, mean_gu] = combine_sums(stats_p, count, b, batch, 2 * H);
        const V rstd(rstd_p[t * batch + b]), mean_g_v(mean_g), mean_gu_v(mean_gu);
        const int64_t row = t * 2 * state + b * 2 * H;
        for (int64_t gate = 0; gate < 2; ++gate)
          for (int64_t jj = 0; jj < block.size; jj += V::size()) {
            const int64_t m = std::min<int64_t>(V::size(), block.size - jj), e = row + gate * H + block.begin + jj;
            const V g = V::loadu(dpre_p + e, m);
            ((g - mean_g_v - V::loadu(u_hat_p + e, m) * mean_gu_v) * rstd).store(d_u_p + e, m);
          }
      }
    };
    if (normalised) {
      run_steps(steps + 1, {{count, step}, {count, through_norm}});
    } else {
      run_steps(steps + 1, {{count, step}});
    }
  });
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(asr_lstm, m) {
  m.def(
      "gru_loop_forward(Tensor xw, Tensor weight_hh, Tensor? mask, Tensor? zone, Tensor(a!) gates, Tensor(b!) hs, "
      "Tensor(c!) rh, int act_g, int act_c) -> ()");
  m.def(
      "gru_loop_backward(Tensor gates, Tensor hs, Tensor? grad_y, Tensor weight_hh, Tensor? mask, "
      "Tensor? zone, Tensor(a!) dh, Tensor(b!) dpre, int act_g, int act_c) -> ()");
  m.def(
      "ligru_loop_forward(Tensor xw, Tensor weight_hh, Tensor? mask, Tensor? zone, Tensor? dropped, "
      "Tensor(a!) gates, Tensor(b!) hs, Tensor(c!)[] norm) -> ()");
  m.def(
      "ligru_loop_backward(Tensor gates, Tensor hs, Tensor? grad_y, Tensor weight_hh, Tensor? mask, Tensor? zone, "
      "Tensor? dropped, Tensor(a!) dh, Tensor(b!) dpre, Tensor(c!)[] norm) -> ()");
}

TORCH_LIBRARY_IMPL(asr_lstm, CPU, m) {
  m.impl("gru_loop_forward", &gru_loop_forward);
  m.impl("gru_loop_backward", &gru_loop_backward);
  m.impl("ligru_loop_forward", &ligru_loop_forward);
  m.impl("ligru_loop_backward", &ligru_loop_backward);
}
