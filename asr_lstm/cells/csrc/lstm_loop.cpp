// The time loop of the dense LSTM variants on CPU, forward and hand-derived backward, as two ATen
// operators (torch.ops.asr_lstm.lstm_loop_forward / lstm_loop_backward). The equations are those of
// asr_lstm/cells/recurrence.py and of the Triton kernels in asr_lstm/cells/fused.py; the buffers are
// the Python loop's, so the weight gradients after the loop are shared.
//
// Why it is fast: at B = 16 a step's recurrent product is a small GEMM that a multithreaded BLAS call
// splits badly, and the element-wise work is a dozen operators. Here the hidden units are split into
// one block per thread (at least kMinBlock units each), and each thread does, for its block, the
// product with its own rows of U (or columns, backward), kept in its cache across steps, and the
// element-wise work in one vectorised pass. One team of threads runs the whole loop (run_steps) and
// meets at a barrier once per step (once more under a projection, whose product W_rm h_t the threads
// split by columns, and twice more under layer normalisation, whose means and variances span every
// block's units), with no ATen call between steps: the gate recurrence's product (fgr) is split like
// U's, each thread multiplying by R's rows (columns, backward) for its units. Built on first use by
// asr_lstm/cells/compiled.py; without a compiler the Python loop runs instead.
#include <torch/library.h>

#include <optional>
#include <vector>

#include "loop_kernels.h"

namespace {

using namespace loop_kernels;

// The switches of a variant, in the order of asr_lstm.cells.compiled.flags.
struct Flags {
  bool input_gate, forget_gate, output_gate, coupled, peepholes, output_current, recurrent_c, gate_recurrence;
  int64_t act_g, act_c, act_h;

  explicit Flags(at::IntArrayRef f)
      : input_gate(f.at(0)), forget_gate(f.at(1)), output_gate(f.at(2)), coupled(f.at(3)), peepholes(f.at(4)),
        output_current(f.at(5)), recurrent_c(f.at(6)), gate_recurrence(f.at(7)), act_g(f.at(8)), act_c(f.at(9)),
        act_h(f.at(10)) {
    TORCH_CHECK(f.size() == 11, "lstm_loop: 11 flags expected, got ", f.size());
  }
};

template <typename T>
struct ForwardStep {
  const T *pre;     // (B, >= 4 size), row stride pre_stride: the block's U r_{t-1}, gate after gate
  int64_t pre_stride;
  const T *xw;      // (B, 4H): W x_t + b
  const T *rec;     // (B, 3H): R [i; f; o]_{t-1} or null
  T *gates;         // (B, 4H): activations out
  const T *c_prev;  // (B, H)
  T *c_next, *h_next, *sh;
  const T *peep;    // (3, H) or null
  // Zoneout: d_t of c_t and of h_t (unprojected; r_t's is applied in the projection phase), or null;
  // c~_t, the cell's own update, goes to c_own under the cell's.
  const T *zone_c, *zone_h, *h_prev;
  T *c_own;
  int64_t batch, hidden;
};

// The per-vector helpers are forced inline: out of line, each vector's call passes its registers
// through memory, which cost the backward step about a fifth.
// The gates and c~_t of one vector of units from their pre-activations (peepholes, the clip and the
// output peephole on c~_t or c_{t-1} applied here); peep points at V_i's entries (V_f's at + H, V_o's
// at + 2H) or is null.
template <typename T>
struct CellUpdate {
  Vectorized<T> i, f, g, o, c;
};

template <typename T>
C10_ALWAYS_INLINE CellUpdate<T> update_cell(Vectorized<T> a_i, Vectorized<T> a_f, const Vectorized<T>& a_g, Vectorized<T> a_o,
                          const Vectorized<T>& c, const T* peep, int64_t hidden, int64_t m, const Flags& f,
                          double clip) {
  using V = Vectorized<T>;
  const V one(T(1));
  if (f.peepholes) {
    a_i = a_i + V::loadu(peep, m) * c;
    a_f = a_f + V::loadu(peep + hidden, m) * c;
  }
  const V i = f.input_gate ? activate(a_i, f.act_g) : one;
  const V fg = f.coupled ? one - i : (f.forget_gate ? activate(a_f, f.act_g) : one);
  const V g = activate(a_g, f.act_c);
  V c_new = fg * c + i * g;
  if (clip > 0) c_new = at::vec::clamp(c_new, V(static_cast<T>(-clip)), V(static_cast<T>(clip)));
  if (f.peepholes) a_o = a_o + V::loadu(peep + 2 * hidden, m) * (f.output_current ? c_new : c);
  return {i, fg, g, f.output_gate ? activate(a_o, f.act_g) : one, c_new};
}

// Stores the four activations at row (B's row of (B, 4H)) + j.
template <typename T>
C10_ALWAYS_INLINE void store_gates(const CellUpdate<T>& u, T* row, int64_t j, int64_t hidden, int64_t m) {
  u.i.store(row + j, m);
  u.f.store(row + hidden + j, m);
  u.g.store(row + 2 * hidden + j, m);
  u.o.store(row + 3 * hidden + j, m);
}

template <typename T>
void forward_block(const ForwardStep<T>& s, const Block& block, const Flags& f, double clip) {
  using V = Vectorized<T>;
  constexpr int64_t kWidth = V::size();
  const int64_t H = s.hidden, n = block.size;
  for (int64_t b = 0; b < s.batch; ++b) {
    const T* pre = s.pre + b * s.pre_stride;
    const T* xw = s.xw + b * 4 * H;
    const T* rec = s.rec ? s.rec + b * 3 * H : nullptr;
    for (int64_t jj = 0; jj < n; jj += kWidth) {
      const int64_t m = std::min(kWidth, n - jj), j = block.begin + jj, k = b * H + j;
      auto gate = [&](int64_t q) { return V::loadu(pre + q * n + jj, m) + V::loadu(xw + q * H + j, m); };
      V a_i = gate(0), a_f = gate(1), a_o = gate(3);
      if (rec) {
        a_i = a_i + V::loadu(rec + j, m);
        a_f = a_f + V::loadu(rec + H + j, m);
        a_o = a_o + V::loadu(rec + 2 * H + j, m);
      }
      const V c = V::loadu(s.c_prev + k, m);
      CellUpdate<T> u = update_cell(a_i, a_f, gate(2), a_o, c, s.peep ? s.peep + j : nullptr, H, m, f, clip);
      const V sig_h = activate(u.c, f.act_h);
      V h = u.o * sig_h;
      if (s.zone_c) {  // c_t = d o c_{t-1} + (1 - d) o c~_t
        u.c.store(s.c_own + k, m);
        u.c = lerp(u.c, c, V::loadu(s.zone_c + k, m));
      }
      if (s.zone_h) h = lerp(h, V::loadu(s.h_prev + k, m), V::loadu(s.zone_h + k, m));
      store_gates(u, s.gates + b * 4 * H, j, H, m);
      u.c.store(s.c_next + k, m);
      sig_h.store(s.sh + k, m);
      h.store(s.h_next + k, m);
    }
  }
}

// Layer normalisation (Ba, Kiros & Hinton 2016) in the loop. A step's two normalisations, of U r_{t-1}
// over its 4H units and of c~_t over its H, each need the whole row: every block writes its rows'
// partial moments (mean, M2 of its entries) to stats (blocks, B, 2), and after a barrier each block
// combines them (Chan, Golub & LeVeque's pairwise update, as stable as a two-pass variance). So the
// forward step has three phases: the product and its moments; the normalised pre-activations up to
// c~_t and its moments; LN(c~_t) to h_t. Backward likewise sums g and g o z_hat per row.
template <typename T>
struct NormForward {
  const T *gain_u, *gain_c, *bias_c;  // alpha_1 (4H), alpha_3 (H), beta_3 (H)
  T *u_hat, *u_rstd;                  // step t's (B, 4H) LN(U r_{t-1}) before its gain, (B) its 1 / sigma
  T *c_hat, *c_rstd;                  // step t's (B, H), (B): those of c~_t
  T *u_stats, *c_stats;               // (blocks, B, 2) partial moments
};

// Phase 1 of a normalised step: the block's partial moments of U r_{t-1}, (B, 4 size) in s.pre.
template <typename T>
void product_moments(const ForwardStep<T>& s, const NormForward<T>& ln, const Block& block, int64_t k) {
  for (int64_t b = 0; b < s.batch; ++b)
    moments(s.pre + b * s.pre_stride, 4 * block.size, ln.u_stats + (k * s.batch + b) * 2);
}

// Phase 2: (i; f; g; o)_t = W x_t + b + alpha_1 o LN(U r_{t-1}) (+ R's share, peepholes), the gates and
// c~_t (to c_own under zoneout of the cell, else c_next), and the block's moments of c~_t.
template <typename T>
void normalised_cell_block(const ForwardStep<T>& s, const NormForward<T>& ln, const std::vector<Block>& blocks,
                           int64_t k, const Flags& f, double clip) {
  using V = Vectorized<T>;
  constexpr int64_t kWidth = V::size();
  const Block& block = blocks[k];
  const int64_t H = s.hidden, n = block.size;
  T* c_own = s.zone_c ? s.c_own : s.c_next;
  for (int64_t b = 0; b < s.batch; ++b) {
    const auto [mean, rstd] = combine_moments(ln.u_stats, blocks, b, s.batch, 4);
    if (k == 0) ln.u_rstd[b] = rstd;
    const V mean_v(mean), rstd_v(rstd);
    const T* pre = s.pre + b * s.pre_stride;
    const T* xw = s.xw + b * 4 * H;
    const T* rec = s.rec ? s.rec + b * 3 * H : nullptr;
    T* u_hat = ln.u_hat + b * 4 * H;
    for (int64_t jj = 0; jj < n; jj += kWidth) {
      const int64_t m = std::min(kWidth, n - jj), j = block.begin + jj, e = b * H + j;
      auto gate = [&](int64_t q) {
        const V z = (V::loadu(pre + q * n + jj, m) - mean_v) * rstd_v;
        z.store(u_hat + q * H + j, m);
        return at::vec::fmadd(V::loadu(ln.gain_u + q * H + j, m), z, V::loadu(xw + q * H + j, m));
      };
      V a_i = gate(0), a_f = gate(1), a_o = gate(3);
      if (rec) {
        a_i = a_i + V::loadu(rec + j, m);
        a_f = a_f + V::loadu(rec + H + j, m);
        a_o = a_o + V::loadu(rec + 2 * H + j, m);
      }
      const CellUpdate<T> u = update_cell(a_i, a_f, gate(2), a_o, V::loadu(s.c_prev + e, m),
                                          s.peep ? s.peep + j : nullptr, H, m, f, clip);
      store_gates(u, s.gates + b * 4 * H, j, H, m);
      u.c.store(c_own + e, m);
    }
    moments(c_own + b * H + block.begin, n, ln.c_stats + (k * s.batch + b) * 2);
  }
}

// Phase 3: h_t = o_t o sigma_h(alpha_3 o LN(c~_t) + beta_3), then zoneout.
template <typename T>
void normalised_output_block(const ForwardStep<T>& s, const NormForward<T>& ln, const std::vector<Block>& blocks,
                             int64_t k, const Flags& f) {
  using V = Vectorized<T>;
  constexpr int64_t kWidth = V::size();
  const Block& block = blocks[k];
  const int64_t H = s.hidden;
  const T* c_own = s.zone_c ? s.c_own : s.c_next;
  for (int64_t b = 0; b < s.batch; ++b) {
    const auto [mean, rstd] = combine_moments(ln.c_stats, blocks, b, s.batch, 1);
    if (k == 0) ln.c_rstd[b] = rstd;
    const V mean_v(mean), rstd_v(rstd);
    for (int64_t j = block.begin; j < block.begin + block.size; j += kWidth) {
      const int64_t m = std::min(kWidth, block.begin + block.size - j), e = b * H + j;
      const V c = V::loadu(c_own + e, m), z = (c - mean_v) * rstd_v;
      z.store(ln.c_hat + e, m);
      const V sig_h = activate(at::vec::fmadd(V::loadu(ln.gain_c + j, m), z, V::loadu(ln.bias_c + j, m)), f.act_h);
      V h = V::loadu(s.gates + b * 4 * H + 3 * H + j, m) * sig_h;
      if (s.zone_c) lerp(c, V::loadu(s.c_prev + e, m), V::loadu(s.zone_c + e, m)).store(s.c_next + e, m);
      if (s.zone_h) h = lerp(h, V::loadu(s.h_prev + e, m), V::loadu(s.zone_h + e, m));
      sig_h.store(s.sh + e, m);
      h.store(s.h_next + e, m);
    }
  }
}

template <typename T>
struct BackwardStep {
  const T *gates;   // (B, 4H) activations of step t
  const T *c_prev;  // (B, H) c_{t-1}
  const T *c_now;   // (B, H) c~_t, the cell's own update (c_t without zoneout), clipped entries pass no gradient
  const T *sh;      // (B, H) sigma_h(c_t)
  const T *dh;      // (B, H) gradient reaching h_t from step t+1 (grad_y's share not included)
  const T *grad_y;  // (B, H) or null
  T *dc;            // (B, H) gradient reaching c_t in, c_{t-1} out (before any U c_{t-1} term)
  const T *d_ifo;   // (B, 3H) gradient reaching [i; f; o]_t through the gate recurrence, or null
  T *dpre;          // (B, 4H) d loss / d pre-activations out
  const T *peep;
  T *d_peep;        // (3, H) the peepholes' gradient, to which the step adds its share, or null
  // Zoneout's d_t of c_t and of h_t (unprojected), or null; d's share of dh_t, which goes straight to
  // h_{t-1}, out in carry_h.
  const T *zone_c, *zone_h;
  T *carry_h;
  int64_t batch, hidden;
};

// Of units [j, j + m) (entry e of a (B, H) row): d loss / d h~_t, the gradient reaching h_t from step
// t+1 and y_t less zoneout's share d o (that), which goes straight to h_{t-1} (carry_h).
template <typename T>
C10_ALWAYS_INLINE Vectorized<T> hidden_gradient(const BackwardStep<T>& s, int64_t e, int64_t m) {
  using V = Vectorized<T>;
  V dh_t = V::loadu(s.dh + e, m);
  if (s.grad_y) dh_t = dh_t + V::loadu(s.grad_y + e, m);
  if (s.zone_h) {  // h_t = d o h_{t-1} + (1 - d) o h~_t
    const V carry = dh_t * V::loadu(s.zone_h + e, m);
    carry.store(s.carry_h + e, m);
    dh_t = dh_t - carry;
  }
  return dh_t;
}

// d loss / d c~_t's share from step t+1, less zoneout's (c_t = d o c_{t-1} + (1 - d) o c~_t), which is
// carry_c.
template <typename T>
C10_ALWAYS_INLINE Vectorized<T> cell_gradient_in(const BackwardStep<T>& s, int64_t e, int64_t m, Vectorized<T>& carry_c) {
  using V = Vectorized<T>;
  const V dc = V::loadu(s.dc + e, m);
  carry_c = s.zone_c ? dc * V::loadu(s.zone_c + e, m) : V(T(0));
  return dc - carry_c;
}

// d loss / d o_t's pre-activation from dh_t.
template <typename T>
C10_ALWAYS_INLINE Vectorized<T> output_gate_gradient(const BackwardStep<T>& s, const Flags& f, const Vectorized<T>& dh_t,
                                   const Vectorized<T>& o, const Vectorized<T>& sig_h, int64_t b, int64_t j,
                                   int64_t m) {
  using V = Vectorized<T>;
  const V dsg_o = f.output_gate ? derivative(o, f.act_g) : V(T(0));
  V d_o = dh_t * sig_h * dsg_o;
  if (s.d_ifo) d_o = d_o + V::loadu(s.d_ifo + b * 3 * s.hidden + 2 * s.hidden + j, m) * dsg_o;
  return d_o;
}

// The rest of step t for units [j, j + m) of row b, from d loss / d c~_t through h_t (dc_t, before the
// output peephole's share and the clip) and d_o: the other gates' gradients, all four stored in dpre,
// d loss / d c_{t-1} (+ carry_c) stored in dc, and the peepholes' shares.
template <typename T>
C10_ALWAYS_INLINE void gates_backward(const BackwardStep<T>& s, const Flags& f, double clip, int64_t b, int64_t j, int64_t m,
                    Vectorized<T> dc_t, const Vectorized<T>& d_o, const Vectorized<T>& carry_c) {
  using V = Vectorized<T>;
  const int64_t H = s.hidden, e = b * H + j;
  const T* row = s.gates + b * 4 * H;
  const V zero(T(0)), i = V::loadu(row + j, m), fg = V::loadu(row + H + j, m), g = V::loadu(row + 2 * H + j, m),
          c = V::loadu(s.c_prev + e, m);
  const V dsg_i = f.input_gate ? derivative(i, f.act_g) : zero;
  const V dsg_f = (f.coupled || !f.forget_gate) ? zero : derivative(fg, f.act_g);
  if (f.peepholes && f.output_current) dc_t = dc_t + d_o * V::loadu(s.peep + 2 * H + j, m);
  if (clip > 0) dc_t = V::blendv(zero, dc_t, V::loadu(s.c_now + e, m).abs() < V(static_cast<T>(clip)));
  V d_i = dc_t * (f.coupled ? g - c : g) * dsg_i;
  V d_f = dc_t * c * dsg_f;
  const V d_g = dc_t * i * derivative(g, f.act_c);
  if (s.d_ifo) {
    const T* ifo = s.d_ifo + b * 3 * H;
    d_i = d_i + V::loadu(ifo + j, m) * dsg_i;
    d_f = d_f + V::loadu(ifo + H + j, m) * dsg_f;
  }
  V dc_prev = dc_t * fg + carry_c;
  if (f.peepholes) {
    dc_prev = dc_prev + d_i * V::loadu(s.peep + j, m) + d_f * V::loadu(s.peep + H + j, m);
    if (!f.output_current) dc_prev = dc_prev + d_o * V::loadu(s.peep + 2 * H + j, m);
  }
  T* out = s.dpre + b * 4 * H;
  d_i.store(out + j, m);
  d_f.store(out + H + j, m);
  d_g.store(out + 2 * H + j, m);
  d_o.store(out + 3 * H + j, m);
  if (s.d_peep) {  // d V_i += d_i o c_{t-1}, d V_f += d_f o c_{t-1}, d V_o += d_o o c_t (or c_{t-1})
    const V c_o = f.output_current ? V::loadu(s.c_now + e, m) : c;
    (V::loadu(s.d_peep + j, m) + d_i * c).store(s.d_peep + j, m);
    (V::loadu(s.d_peep + H + j, m) + d_f * c).store(s.d_peep + H + j, m);
    (V::loadu(s.d_peep + 2 * H + j, m) + d_o * c_o).store(s.d_peep + 2 * H + j, m);
  }
  dc_prev.store(s.dc + e, m);
}

template <typename T>
void backward_block(const BackwardStep<T>& s, const Block& block, const Flags& f, double clip) {
  using V = Vectorized<T>;
  constexpr int64_t kWidth = V::size();
  const int64_t H = s.hidden;
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t j = block.begin; j < block.begin + block.size; j += kWidth) {
      const int64_t m = std::min(kWidth, block.begin + block.size - j), e = b * H + j;
      const V o = V::loadu(s.gates + b * 4 * H + 3 * H + j, m), sig_h = V::loadu(s.sh + e, m);
      const V dh_t = hidden_gradient(s, e, m);
      V carry_c;
      const V dc_t = cell_gradient_in(s, e, m, carry_c) + dh_t * o * derivative(sig_h, f.act_h);
      gates_backward(s, f, clip, b, j, m, dc_t, output_gate_gradient(s, f, dh_t, o, sig_h, b, j, m), carry_c);
    }
}

// Step t's layer normalisation backward: what the forward pass kept, and d loss / d U r_{t-1} and
// d loss / d LN(c~_t) out. With z = LN(v) before its gain alpha and g = alpha o d loss / d (alpha o z),
// d loss / d v = (g - mean(g) - z o mean(g o z)) / sigma, the means over v's units: each block sums its
// rows' g and g o z into stats (blocks, B, 2), and after a barrier every block adds them up. Each block
// adds its units' shares of the gains' and beta_3's gradients step by step, as the peepholes'.
template <typename T>
struct NormBackward {
  const T *gain_u, *gain_c;       // alpha_1 (4H), alpha_3 (H)
  const T *u_hat, *u_rstd;        // step t's (B, 4H), (B)
  const T *c_hat, *c_rstd;        // step t's (B, H), (B)
  T *d_u_in;                      // step t's (B, 4H) out
  T *d_gain_u, *d_gain_c, *d_bias_c;  // (4H), (H), (H), summed over the steps
  T *d_c_norm;                    // (B, H) scratch: d loss / d (alpha_3 o LN(c~_t) + beta_3)
  T *u_stats, *c_stats;           // (blocks, B, 2)
};

// Adds sum(grad o gain) and sum(grad o gain o hat) over n entries to out[0], out[1].
template <typename T>
void add_gradient_sums(const T* grad, const T* gain, const T* hat, int64_t n, T* out) {
  using V = Vectorized<T>;
  constexpr int64_t kWidth = V::size();
  const int64_t whole = n / kWidth * kWidth;
  V sum(T(0)), projected(T(0));
  for (int64_t i = 0; i < whole; i += kWidth) {
    const V g = V::loadu(grad + i) * V::loadu(gain + i);
    sum = sum + g;
    projected = at::vec::fmadd(g, V::loadu(hat + i), projected);
  }
  T s = horizontal_sum(sum), p = horizontal_sum(projected);
  for (int64_t i = whole; i < n; ++i) {
    s += grad[i] * gain[i];
    p += grad[i] * gain[i] * hat[i];
  }
  out[0] += s;
  out[1] += p;
}

// Phase 1 of a normalised step backward: dh_t, d_o (stored in dpre) and d loss / d LN(c~_t), with the
// block's sums for its normalisation.
template <typename T>
void normalised_output_backward(const BackwardStep<T>& s, const NormBackward<T>& ln, const Block& block,
                                int64_t k, const Flags& f) {
  using V = Vectorized<T>;
  constexpr int64_t kWidth = V::size();
  const int64_t H = s.hidden;
  for (int64_t b = 0; b < s.batch; ++b) {
    for (int64_t j = block.begin; j < block.begin + block.size; j += kWidth) {
      const int64_t m = std::min(kWidth, block.begin + block.size - j), e = b * H + j;
      const V o = V::loadu(s.gates + b * 4 * H + 3 * H + j, m), sig_h = V::loadu(s.sh + e, m);
      const V dh_t = hidden_gradient(s, e, m);
      output_gate_gradient(s, f, dh_t, o, sig_h, b, j, m).store(s.dpre + b * 4 * H + 3 * H + j, m);
      const V d_norm = dh_t * o * derivative(sig_h, f.act_h);
      d_norm.store(ln.d_c_norm + e, m);
      (V::loadu(ln.d_gain_c + j, m) + d_norm * V::loadu(ln.c_hat + e, m)).store(ln.d_gain_c + j, m);
      (V::loadu(ln.d_bias_c + j, m) + d_norm).store(ln.d_bias_c + j, m);
    }
    T* sums = ln.c_stats + (k * s.batch + b) * 2;
    sums[0] = sums[1] = T(0);
    const int64_t e = b * H + block.begin;
    add_gradient_sums(ln.d_c_norm + e, ln.gain_c + block.begin, ln.c_hat + e, block.size, sums);
  }
}

// Phase 2: back through LN(c~_t) to c~_t, then the gates and c_{t-1}; the block's sums for the
// normalisation of U r_{t-1}, whose input gradient is dpre times alpha_1.
template <typename T>
void normalised_cell_backward(const BackwardStep<T>& s, const NormBackward<T>& ln, const std::vector<Block>& blocks,
                              int64_t k, const Flags& f, double clip) {
  using V = Vectorized<T>;
  constexpr int64_t kWidth = V::size();
  const Block& block = blocks[k];
  const int64_t H = s.hidden, count = static_cast<int64_t>(blocks.size());
  for (int64_t b = 0; b < s.batch; ++b) {
    const auto [mean_g, mean_gz] = combine_sums(ln.c_stats, count, b, s.batch, H);
    const V mean_v(mean_g), projected_v(mean_gz), rstd(ln.c_rstd[b]);
    for (int64_t j = block.begin; j < block.begin + block.size; j += kWidth) {
      const int64_t m = std::min(kWidth, block.begin + block.size - j), e = b * H + j;
      const V g = V::loadu(ln.d_c_norm + e, m) * V::loadu(ln.gain_c + j, m);
      const V through_norm = (g - mean_v - V::loadu(ln.c_hat + e, m) * projected_v) * rstd;
      V carry_c;
      const V dc_t = cell_gradient_in(s, e, m, carry_c) + through_norm;
      gates_backward(s, f, clip, b, j, m, dc_t, V::loadu(s.dpre + b * 4 * H + 3 * H + j, m), carry_c);
    }
    T* sums = ln.u_stats + (k * s.batch + b) * 2;
    sums[0] = sums[1] = T(0);
    for (int64_t q = 0; q < 4; ++q) {
      const int64_t e = b * 4 * H + q * H + block.begin;
      add_gradient_sums(s.dpre + e, ln.gain_u + q * H + block.begin, ln.u_hat + e, block.size, sums);
    }
  }
}

// Phase 3: d loss / d U r_{t-1} of the block's units in the four gates.
template <typename T>
void normalised_product_backward(const BackwardStep<T>& s, const NormBackward<T>& ln, const std::vector<Block>& blocks,
                                 int64_t k) {
  using V = Vectorized<T>;
  constexpr int64_t kWidth = V::size();
  const Block& block = blocks[k];
  const int64_t H = s.hidden, count = static_cast<int64_t>(blocks.size());
  for (int64_t b = 0; b < s.batch; ++b) {
    const auto [mean_g, mean_gz] = combine_sums(ln.u_stats, count, b, s.batch, 4 * H);
    const V mean_v(mean_g), projected_v(mean_gz), rstd(ln.u_rstd[b]);
    for (int64_t q = 0; q < 4; ++q)
      for (int64_t j = block.begin; j < block.begin + block.size; j += kWidth) {
        const int64_t m = std::min(kWidth, block.begin + block.size - j), e = b * 4 * H + q * H + j;
        const V d_pre = V::loadu(s.dpre + e, m), z = V::loadu(ln.u_hat + e, m);
        ((d_pre * V::loadu(ln.gain_u + q * H + j, m) - mean_v - z * projected_v) * rstd).store(ln.d_u_in + e, m);
        (V::loadu(ln.d_gain_u + q * H + j, m) + d_pre * z).store(ln.d_gain_u + q * H + j, m);
      }
  }
}

// The gate recurrence's product for one block of units: [i; f; o] of a row of 4H (i, f at 0, o at 3H)
// times B (3H, 3n), packed: forward B holds R's rows for the block's i, f and o (R [i; f; o]_{t-1} for
// its units), backward R's columns for them (R^T d[i; f; o]_{t+1} reaching its units).
template <typename T>
struct GateRecurrence {
  Tensor if_panels, o_panels;  // B's rows for i and f (2H) and for o (H), as panels
  Tensor product;              // (batch, >= 3n)

  GateRecurrence(const Tensor& b, int64_t hidden, int64_t batch)
      : if_panels(pack_panels<T, kForwardVectors>(b.narrow(0, 0, 2 * hidden))),
        o_panels(pack_panels<T, kForwardVectors>(b.narrow(0, 2 * hidden, hidden))),
        product(at::empty({batch, if_panels.size(0) * panel_width<T, kForwardVectors>()}, b.options())) {}

  // The block's columns of out (B, 3H), q H + j for gate q of unit j, from rows (B, 4H).
  void multiply(const T* rows, const Block& block, int64_t hidden, T* out) const {
    const int64_t batch = product.size(0), stride = product.size(1);
    T* c = product.mutable_data_ptr<T>();
    panel_gemm<T, kForwardVectors>(rows, 4 * hidden, batch, if_panels, c, stride);
    panel_gemm<T, kForwardVectors, true>(rows + 3 * hidden, 4 * hidden, batch, o_panels, c, stride);
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t q = 0; q < 3; ++q)
        std::copy_n(c + b * stride + q * block.size, block.size, out + b * 3 * hidden + q * hidden + block.begin);
  }
};

// Per block, the packed B of its GateRecurrence from weight (3H, 3H) taken by rows (forward: R) or
// columns (backward: R^T).
template <typename T>
std::vector<GateRecurrence<T>> gate_recurrence(const Tensor& weight, const std::vector<Block>& blocks,
                                               int64_t hidden, int64_t batch) {
  const Tensor rows = rows_by_block(weight, blocks, hidden, 3);
  std::vector<GateRecurrence<T>> per_block;
  for (const Block& block : blocks)
    per_block.emplace_back(rows.narrow(0, 3 * block.begin, 3 * block.size).t(), hidden, batch);
  return per_block;
}

// The layer normalisation tensors of an operator, checked: none, or `count` of them, the first `params`
// its parameters (made contiguous), the others buffers it reads or writes (contiguous already), all of
// like's dtype on the CPU.
std::vector<Tensor> layer_norm_tensors(at::TensorList norm, size_t count, size_t params, const Tensor& like) {
  TORCH_CHECK(norm.empty() || norm.size() == count, "lstm_loop: ", count, " layer normalisation tensors expected, got ",
              norm.size());
  std::vector<Tensor> tensors{like};
  for (size_t q = 0; q < norm.size(); ++q) tensors.push_back(q < params ? norm[q].contiguous() : norm[q]);
  check_buffers("lstm_loop", tensors);
  return std::vector<Tensor>(tensors.begin() + 1, tensors.end());
}

// The recurrence over all steps; the buffers are those of recurrence._forward: gates (T, B, 4H),
// cs (T+1, B, H) and hs (T+1, B, H) with the initial state at 0, sh (T, B, H), and under a projection
// rs (T+1, B, P) with r_0 at 0 (with a non-recurrent projection (T+1, B, P + N), [r_t; p_t], of which
// U, weight_hh (4H, P), multiplies r_t). Under zoneout (zone_c (T, B, H), zone_h (T, B, R)) cs, hs and rs hold
// the states after it, and c_new (T, B, H) receives c~_t under the cell's. Under layer normalisation
// norm is alpha_1 (4H), alpha_3 (H), beta_3 (H) and the buffers u_hat (T, B, 4H), u_rstd (T, B, 1),
// c_hat (T, B, H), c_rstd (T, B, 1) it fills; empty without it.
void lstm_loop_forward(const Tensor& xw_in, const Tensor& weight_hh, const std::optional<Tensor>& weight_ch,
                       const std::optional<Tensor>& weight_gh, const std::optional<Tensor>& weight_hr,
                       const std::optional<Tensor>& mask, const std::optional<Tensor>& zone_c,
                       const std::optional<Tensor>& zone_h, const Tensor& gates, const Tensor& cs, const Tensor& hs,
                       const Tensor& sh, const std::optional<Tensor>& rs, const std::optional<Tensor>& c_new,
                       at::TensorList norm, at::IntArrayRef flag_values, double clip) {
  const Tensor xw = xw_in.contiguous();
  check_buffers("lstm_loop", {xw, gates, cs, hs, sh});
  const bool projected = rs.has_value();
  if (projected) check_buffers("lstm_loop", {xw, *rs});
  const Tensor zones_c = zone_c.has_value() ? zone_c->contiguous() : Tensor();
  const Tensor zones_h = zone_h.has_value() ? zone_h->contiguous() : Tensor();
  if (zones_c.defined()) check_buffers("lstm_loop", {xw, *c_new});
  const std::vector<Tensor> ln = layer_norm_tensors(norm, 7, 3, xw);
  const Flags f(flag_values);
  const int64_t steps = xw.size(0), batch = xw.size(1), hidden = cs.size(2), state = batch * hidden;
  const Tensor peep = f.peepholes ? weight_ch->contiguous() : Tensor();
  // What U multiplies: a row of cs, hs or rs (width R), masked under variational dropout; of a row of
  // rs = [r; p] under a non-recurrent projection, the first `fed` = P values, r.
  const Tensor& source = f.recurrent_c ? cs : (projected ? *rs : hs);
  const int64_t width = source.size(2), in_state = batch * width, fed = weight_hh.size(1);
  TORCH_CHECK(fed <= width, "lstm_loop: weight_hh multiplies ", fed, " values of a state of ", width);
  // The threads do all of a step: under a projection they compute their columns of r_t = W_rm h_t in a
  // second phase, and under dropout each writes the masked copy of its units (columns) of U's next
  // input into one of two buffers: step t reads buffer t % 2 while its new units go to the other.
  const Tensor drop = mask.has_value() ? mask->contiguous() : Tensor();
  Tensor masked;
  if (drop.defined()) {
    masked = at::empty({2, batch, fed}, xw.options());
    masked[0].copy_(source[0].narrow(1, 0, fed) * drop);
  }
  AT_DISPATCH_FLOATING_TYPES(xw.scalar_type(), "lstm_loop_forward", [&] {
    using T = scalar_t;
    const std::vector<Block> blocks = split_units(hidden, Vectorized<T>::size());
    const Tensor u_rows = rows_by_block(weight_hh, blocks, hidden, 4);
    std::vector<Tensor> u_panels, pre_block;  // per block: its rows of U as panels of U^T; its product
    for (const Block& block : blocks) {
      u_panels.push_back(pack_panels<T, kForwardVectors>(u_rows.narrow(0, 4 * block.begin, 4 * block.size).t()));
      pre_block.push_back(at::empty({batch, u_panels.back().size(0) * panel_width<T, kForwardVectors>()},
                                    xw.options()));
    }
    // Under a projection: per block of r's columns, W_rm^T's columns and their product.
    const std::vector<Block> columns = projected ? split_units(width, Vectorized<T>::size()) : std::vector<Block>();
    std::vector<Tensor> hr_panels, r_block;
    if (projected) pack_columns<T, kBackwardVectors>(weight_hr->t(), columns, batch, hr_panels, r_block);
    const int64_t block_count = static_cast<int64_t>(blocks.size());
    // Under the gate recurrence: per block, the rows of R for its units' i, f and o, as panels of R^T
    // split where [i; f; o]_{t-1} is split in a row of gates (i, f at 0, o at 3H); their product; and
    // R [i; f; o]_{t-1} of every unit, (B, 3H), each block writing its own.
    const std::vector<GateRecurrence<T>> recurrence =
        f.gate_recurrence ? gate_recurrence<T>(*weight_gh, blocks, hidden, batch) : std::vector<GateRecurrence<T>>();
    const Tensor rec_all = f.gate_recurrence ? at::empty({batch, 3 * hidden}, xw.options()) : Tensor();
    const Tensor partial_moments = ln.empty() ? Tensor() : at::empty({2, block_count, batch, 2}, xw.options());
    const T* xw_p = xw.const_data_ptr<T>();
    T* gates_p = gates.mutable_data_ptr<T>();
    T* cs_p = cs.mutable_data_ptr<T>();
    T* hs_p = hs.mutable_data_ptr<T>();
    T* sh_p = sh.mutable_data_ptr<T>();
    T* rs_p = projected ? rs->mutable_data_ptr<T>() : nullptr;
    const T* source_p = source.const_data_ptr<T>();
    const T* peep_p = data_or_null<T>(peep);
    const T* drop_p = data_or_null<T>(drop);
    T* masked_p = masked.defined() ? masked.mutable_data_ptr<T>() : nullptr;
    const T* zone_c_p = data_or_null<T>(zones_c);
    const T* zone_h_p = data_or_null<T>(zones_h);
    T* c_own_p = zones_c.defined() ? c_new->mutable_data_ptr<T>() : nullptr;
    T* rec_p = f.gate_recurrence ? rec_all.mutable_data_ptr<T>() : nullptr;
    auto step_of = [&](int64_t t, int64_t k) {
      return ForwardStep<T>{pre_block[k].const_data_ptr<T>(),
                            pre_block[k].size(1),
                            xw_p + t * 4 * state,
                            rec_p && t > 0 ? rec_p : nullptr,
                            gates_p + t * 4 * state,
                            cs_p + t * state,
                            cs_p + (t + 1) * state,
                            hs_p + (t + 1) * state,
                            sh_p + t * state,
                            peep_p,
                            zone_c_p ? zone_c_p + t * state : nullptr,
                            zone_h_p && !projected ? zone_h_p + t * state : nullptr,
                            hs_p + t * state,
                            c_own_p ? c_own_p + t * state : nullptr,
                            batch,
                            hidden};
    };
    // Step t's layer normalisation pointers, from step 0's (no ATen call inside the team's loop).
    NormForward<T> norm_0{};
    if (!ln.empty()) {
      T* stats = partial_moments.mutable_data_ptr<T>();
      norm_0 = {ln[0].const_data_ptr<T>(),   ln[1].const_data_ptr<T>(),   ln[2].const_data_ptr<T>(),
                ln[3].mutable_data_ptr<T>(), ln[4].mutable_data_ptr<T>(), ln[5].mutable_data_ptr<T>(),
                ln[6].mutable_data_ptr<T>(), stats,                       stats + block_count * batch * 2};
    }
    auto norm_of = [&](int64_t t) {
      NormForward<T> n = norm_0;
      n.u_hat += t * 4 * state;
      n.u_rstd += t * batch;
      n.c_hat += t * state;
      n.c_rstd += t * batch;
      return n;
    };
    // The masked copy of block k's units of U's next input, where the threads write it (not under a
    // projection, whose phase writes r's).
    auto mask_next = [&](int64_t t, int64_t k) {
      if (masked_p && !projected)
        mask_block(source_p + (t + 1) * state, drop_p, masked_p + ((t + 1) % 2) * state, blocks[k], batch, hidden);
    };
    // Step t for block k's units: U's product with the step's input (and R's with [i; f; o]_{t-1}), then
    // the element-wise work (under layer normalisation the product's moments only, the rest in two more
    // phases).
    auto unit_step = [&](int64_t t, int64_t k) {
      const T* in = masked_p ? masked_p + (t % 2) * batch * fed : source_p + t * in_state;
      T* pre = pre_block[k].mutable_data_ptr<T>();
      panel_gemm<T, kForwardVectors>(in, masked_p ? fed : width, batch, u_panels[k], pre, pre_block[k].size(1));
      if (rec_p && t > 0) recurrence[k].multiply(gates_p + (t - 1) * 4 * state, blocks[k], hidden, rec_p);
      if (!ln.empty()) {
        product_moments(step_of(t, k), norm_of(t), blocks[k], k);
        return;
      }
      forward_block(step_of(t, k), blocks[k], f, clip);
      mask_next(t, k);
    };
    auto normalised_cell_step = [&](int64_t t, int64_t k) {
      normalised_cell_block(step_of(t, k), norm_of(t), blocks, k, f, clip);
    };
    auto normalised_output_step = [&](int64_t t, int64_t k) {
      normalised_output_block(step_of(t, k), norm_of(t), blocks, k, f);
      mask_next(t, k);
    };
    // r_{t+1} = W_rm h_{t+1} for block k of its columns, and their masked copy.
    auto projection_step = [&](int64_t t, int64_t k) {
      const Block& c = columns[k];
      const int64_t stride = r_block[k].size(1);
      T* product = r_block[k].mutable_data_ptr<T>();
      panel_gemm<T, kBackwardVectors>(hs_p + (t + 1) * state, hidden, batch, hr_panels[k], product, stride);
      T* r_next = rs_p + (t + 1) * in_state;
      const T* r_prev = rs_p + t * in_state;
      const T* zone = zone_h_p ? zone_h_p + t * in_state : nullptr;
      T* masked_next = masked_p ? masked_p + ((t + 1) % 2) * batch * fed : nullptr;
      for (int64_t b = 0; b < batch; ++b)
        for (int64_t jj = 0; jj < c.size; ++jj) {
          const int64_t column = c.begin + jj, entry = b * width + column;
          const T r = product[b * stride + jj];  // r~_{t+1}; zoneout: d o r_t + (1 - d) o r~_{t+1}
          r_next[entry] = zone ? lerp(r, r_prev[entry], zone[entry]) : r;
          if (masked_next && column < fed) masked_next[b * fed + column] = r_next[entry] * drop_p[b * fed + column];
        }
    };
    std::vector<Phase> phases{{block_count, unit_step}};
    if (!ln.empty()) {
      phases.push_back({block_count, normalised_cell_step});
      phases.push_back({block_count, normalised_output_step});
    }
    if (projected) phases.push_back({static_cast<int64_t>(columns.size()), projection_step});
    run_steps(steps, phases);
  });
}

// The gradient recurrence over all steps, from the last to the first. dh (B, R) and dc (B, H) hold the
// gradients reaching the final state on entry and those reaching the initial state on return; dpre
// (T, B, 4H) receives d loss / d pre-activations, and under a projection drs (T, B, P) d loss / d r_t.
// The peepholes' gradient (3, H), where d_weight_ch is given (zeroed), is summed here too: each thread
// adds its units' terms step by step, rather than three products over all steps afterwards. c_new
// (T, B, H) holds c~_t, the cell's own update (cs[1:] without cell zoneout). Under layer normalisation
// norm is alpha_1 (4H), alpha_3 (H), the forward pass's u_hat, u_rstd, c_hat, c_rstd, and the buffers
// it fills: d_u_in (T, B, 4H), d loss / d U r_{t-1} (for U's gradient), and the gradients of alpha_1,
// alpha_3 and beta_3 (zeroed); empty without it.
void lstm_loop_backward(const Tensor& gates, const Tensor& cs, const Tensor& c_new, const Tensor& sh,
                        const std::optional<Tensor>& grad_y, const Tensor& weight_hh,
                        const std::optional<Tensor>& weight_ch, const std::optional<Tensor>& weight_gh,
                        const std::optional<Tensor>& weight_hr, const std::optional<Tensor>& mask,
                        const std::optional<Tensor>& zone_c, const std::optional<Tensor>& zone_h, const Tensor& dh,
                        const Tensor& dc, const Tensor& dpre, const std::optional<Tensor>& drs,
                        const std::optional<Tensor>& d_weight_ch, at::TensorList norm, at::IntArrayRef flag_values,
                        double clip) {
  check_buffers("lstm_loop", {gates, cs, c_new, sh, dh, dc, dpre});
  const std::vector<Tensor> ln = layer_norm_tensors(norm, 10, 2, gates);
  if (d_weight_ch.has_value()) check_buffers("lstm_loop", {gates, *d_weight_ch});
  const bool projected = drs.has_value();
  if (projected) check_buffers("lstm_loop", {gates, *drs});
  const Flags f(flag_values);
  const int64_t steps = gates.size(0), batch = gates.size(1), hidden = cs.size(2), state = batch * hidden;
  // R: H, P under a projection, P + N with a non-recurrent one, of which U's columns are the first P
  const int64_t width = dh.size(1), in_state = batch * width, fed = weight_hh.size(1);
  const Tensor peep = f.peepholes ? weight_ch->contiguous() : Tensor();
  const Tensor grad_out = grad_y.has_value() ? grad_y->contiguous() : Tensor();
  const Tensor drop = mask.has_value() ? mask->contiguous() : Tensor();
  // The threads do all of a step. Each block of the recurrent input's units (columns) gets its share of
  // the gradient reaching it from step t+1 through its columns of U (every block's dpre is complete
  // then); under a projection that is d loss / d r_t, and a second phase takes it back through W_rm to
  // each block's units of h_t. Under the gate recurrence each block takes d[i; f; o]_{t+1} back through
  // its columns of R. Then each block does its units' element-wise work.
  const Tensor zones_c = zone_c.has_value() ? zone_c->contiguous() : Tensor();
  const Tensor zones_h = zone_h.has_value() ? zone_h->contiguous() : Tensor();
  // Under zoneout of h_t (r_t): d's share of the gradient reaching it, which goes straight to h_{t-1}.
  const Tensor carry = zones_h.defined() ? at::zeros({batch, width}, dh.options()) : Tensor();
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "lstm_loop_backward", [&] {
    using T = scalar_t;
    const std::vector<Block> blocks = split_units(hidden, Vectorized<T>::size());
    const std::vector<Block> columns = projected ? split_units(fed, Vectorized<T>::size()) : blocks;
    std::vector<Tensor> u_panels, carried;  // per block of columns: U's columns as panels; their product
    std::vector<Tensor> hr_panels, through_r;  // per block under a projection: W_rm's columns; their product
    pack_columns<T, kBackwardVectors>(weight_hh, columns, batch, u_panels, carried);
    if (projected) pack_columns<T, kBackwardVectors>(*weight_hr, blocks, batch, hr_panels, through_r);
    Tensor d_out = dh;  // the gradient reaching the step's output (h_t, or r_t) from step t+1
    Tensor dh_proj = projected ? at::zeros({batch, hidden}, dh.options()) : Tensor();  // reaching h_t through r_t
    // Under the gate recurrence: per block, R's columns for its units' i, f and o, and the gradient
    // reaching [i; f; o] of step t through the gate recurrence of step t+1, (B, 3H), each block its own.
    const std::vector<GateRecurrence<T>> recurrence = f.gate_recurrence
                                                          ? gate_recurrence<T>(weight_gh->t(), blocks, hidden, batch)
                                                          : std::vector<GateRecurrence<T>>();
    const Tensor d_ifo = f.gate_recurrence ? at::empty({batch, 3 * hidden}, dh.options()) : Tensor();
    const T* gates_p = gates.const_data_ptr<T>();
    const T* cs_p = cs.const_data_ptr<T>();
    const T* sh_p = sh.const_data_ptr<T>();
    const T* grad_p = data_or_null<T>(grad_out);
    const T* peep_p = data_or_null<T>(peep);
    const T* drop_p = data_or_null<T>(drop);
    T* dh_proj_p = projected ? dh_proj.mutable_data_ptr<T>() : nullptr;
    T* d_out_p = d_out.mutable_data_ptr<T>();
    T* drs_p = projected ? drs->mutable_data_ptr<T>() : nullptr;
    T* dc_p = dc.mutable_data_ptr<T>();
    T* dpre_p = dpre.mutable_data_ptr<T>();
    T* d_ifo_p = f.gate_recurrence ? d_ifo.mutable_data_ptr<T>() : nullptr;
    T* d_peep_p = d_weight_ch.has_value() ? d_weight_ch->mutable_data_ptr<T>() : nullptr;
    const T* c_new_p = c_new.const_data_ptr<T>();
    const T* zone_c_p = data_or_null<T>(zones_c);
    const T* zone_h_p = data_or_null<T>(zones_h);
    T* carry_p = carry.defined() ? carry.mutable_data_ptr<T>() : nullptr;
    // What goes back through U: d loss / d pre-activations, or through layer normalisation d_u_in.
    const T* u_grad_p = ln.empty() ? dpre_p : ln[6].const_data_ptr<T>();
    const int64_t block_count = static_cast<int64_t>(blocks.size());
    const Tensor partial_sums = ln.empty() ? Tensor() : at::empty({2, block_count, batch, 2}, gates.options());
    const Tensor d_c_norm = ln.empty() ? Tensor() : at::empty({batch, hidden}, gates.options());
    auto step_of = [&](int64_t t) {
      return BackwardStep<T>{gates_p + t * 4 * state,
                              cs_p + t * state,
                              c_new_p + t * state,
                              sh_p + t * state,
                              projected ? dh_proj_p : d_out_p,
                              projected || !grad_p ? nullptr : grad_p + t * state,
                              dc_p,
                              d_ifo_p && t < steps - 1 ? d_ifo_p : nullptr,
                              dpre_p + t * 4 * state,
                              peep_p,
                              d_peep_p,
                              zone_c_p ? zone_c_p + t * state : nullptr,
                              zone_h_p && !projected ? zone_h_p + t * state : nullptr,
                              carry_p,
                              batch,
                              hidden};
    };
    // Step t's layer normalisation pointers, from step 0's (no ATen call inside the team's loop).
    NormBackward<T> norm_0{};
    if (!ln.empty()) {
      T* stats = partial_sums.mutable_data_ptr<T>();
      norm_0 = {ln[0].const_data_ptr<T>(),   ln[1].const_data_ptr<T>(),   ln[2].const_data_ptr<T>(),
                ln[3].const_data_ptr<T>(),   ln[4].const_data_ptr<T>(),   ln[5].const_data_ptr<T>(),
                ln[6].mutable_data_ptr<T>(), ln[7].mutable_data_ptr<T>(), ln[8].mutable_data_ptr<T>(),
                ln[9].mutable_data_ptr<T>(), d_c_norm.mutable_data_ptr<T>(), stats,
                stats + block_count * batch * 2};
    }
    auto norm_of = [&](int64_t t) {
      NormBackward<T> n = norm_0;
      n.u_hat += t * 4 * state;
      n.u_rstd += t * batch;
      n.c_hat += t * state;
      n.c_rstd += t * batch;
      n.d_u_in += t * 4 * state;
      return n;
    };
    // Step t's element-wise work for block k's units, after R's share of step t+1 reaching them (under
    // layer normalisation its first phase; the others follow in phases of their own).
    auto step_block = [&](int64_t t, int64_t k) {
      if (d_ifo_p && t < steps - 1) recurrence[k].multiply(dpre_p + (t + 1) * 4 * state, blocks[k], hidden, d_ifo_p);
      if (ln.empty()) backward_block(step_of(t), blocks[k], f, clip);
      else normalised_output_backward(step_of(t), norm_of(t), blocks[k], k, f);
    };
    // The normalised step's second and third phases, for step t = T - 1 - i (none for t = -1).
    auto normalised_phases = [&]() {
      return std::vector<Phase>{{block_count,
                                 [&](int64_t i, int64_t k) {
                                   const int64_t t = steps - 1 - i;
                                   if (t >= 0) normalised_cell_backward(step_of(t), norm_of(t), blocks, k, f, clip);
                                 }},
                                {block_count, [&](int64_t i, int64_t k) {
                                   const int64_t t = steps - 1 - i;
                                   if (t >= 0) normalised_product_backward(step_of(t), norm_of(t), blocks, k);
                                 }}};
    };
    // Step i: t = T - 1 - i; i = T only takes U's share of step 0, which reaches the initial state.
    // U's share of step t+1's gradient for the columns of block k, (B, its columns) in carried[k].
    auto u_share = [&](int64_t t, int64_t k) {
      panel_gemm<T, kBackwardVectors>(u_grad_p + (t + 1) * 4 * state, 4 * hidden, batch, u_panels[k],
                                      carried[k].mutable_data_ptr<T>(), carried[k].size(1));
    };
    // visit(entry, value) for each entry of the columns c of a (B, width) gradient, value being U's
    // share in carried[k] times the dropout mask (B, fed).
    auto for_each_share = [&](int64_t k, const Block& c, int64_t width_of, const auto& visit) {
      const T* product = carried[k].const_data_ptr<T>();
      const int64_t stride = carried[k].size(1);
      for (int64_t b = 0; b < batch; ++b)
        for (int64_t jj = 0; jj < c.size; ++jj) {
          const int64_t column = c.begin + jj;
          visit(b * width_of + column, product[b * stride + jj] * (drop_p ? drop_p[b * fed + column] : T(1)));
        }
    };
    // Step t for block k's units: U's share of step t+1 reaching them (joining dc for U c_{t-1}),
    // then the element-wise work.
    auto unit_step = [&](int64_t i, int64_t k) {
      const int64_t t = steps - 1 - i;
      if (t < steps - 1) {
        u_share(t, k);
        for_each_share(k, blocks[k], hidden, [&](int64_t entry, T value) {
          const T carried_h = carry_p ? carry_p[entry] : T(0);
          if (f.recurrent_c) {
            dc_p[entry] += value;
            d_out_p[entry] = carried_h;
          } else {
            d_out_p[entry] = value + carried_h;
          }
        });
      }
      if (t >= 0) step_block(t, k);
    };
    // Under a projection, d loss / d r_t for block k of r's columns: U's share of step t+1 (on entry
    // for t = T - 1) plus y_t's gradient, less zoneout's share d o (that), which goes straight to r_{t-1};
    // for t = -1 U's and zoneout's shares of step 0, reaching r_0.
    auto r_step = [&](int64_t i, int64_t k) {
      const int64_t t = steps - 1 - i;
      auto to_r = [&](int64_t entry, T value) {
        if (t < 0) {
          d_out_p[entry] = value;
          return;
        }
        value += grad_p ? grad_p[t * in_state + entry] : T(0);
        if (zone_h_p) {
          carry_p[entry] = value * zone_h_p[t * in_state + entry];
          value -= carry_p[entry];
        }
        drs_p[t * in_state + entry] = value;
      };
      if (i > 0) {
        u_share(t, k);
        for_each_share(k, columns[k], width,
                       [&](int64_t entry, T value) { to_r(entry, value + (carry_p ? carry_p[entry] : T(0))); });
      } else {  // t = T - 1: the gradient reaching r_T, given on entry
        for (int64_t b = 0; b < batch; ++b)
          for (int64_t jj = 0; jj < columns[k].size; ++jj) {
            const int64_t entry = b * width + columns[k].begin + jj;
            to_r(entry, d_out_p[entry]);
          }
      }
      // A non-recurrent projection's p_t, beyond U's columns (the last block's): y_t's gradient only
      // (and at t = T - 1 the one reaching p_T).
      if (k + 1 == static_cast<int64_t>(columns.size()))
        for (int64_t b = 0; b < batch; ++b)
          for (int64_t column = fed; column < width; ++column)
            to_r(b * width + column, i == 0 ? d_out_p[b * width + column] : T(0));
    };
    // ... then through r_t = W_rm h_t to block k's units of h_t, and the element-wise work.
    auto projected_unit_step = [&](int64_t i, int64_t k) {
      const int64_t t = steps - 1 - i;
      if (t < 0) return;
      const Block& block = blocks[k];
      T* product = through_r[k].mutable_data_ptr<T>();
      const int64_t stride = through_r[k].size(1);
      panel_gemm<T, kBackwardVectors>(drs_p + t * in_state, width, batch, hr_panels[k], product, stride);
      for (int64_t b = 0; b < batch; ++b)
        for (int64_t jj = 0; jj < block.size; ++jj)
          dh_proj_p[b * hidden + block.begin + jj] = product[b * stride + jj];
      step_block(t, k);
    };
    const int64_t column_blocks = static_cast<int64_t>(columns.size());
    std::vector<Phase> phases{{block_count, unit_step}};
    if (projected) phases = {{column_blocks, r_step}, {block_count, projected_unit_step}};
    if (!ln.empty())
      for (Phase& phase : normalised_phases()) phases.push_back(std::move(phase));
    run_steps(steps + 1, phases);
  });
}

}  // namespace

TORCH_LIBRARY(asr_lstm, m) {
  m.def(
      "lstm_loop_forward(Tensor xw, Tensor weight_hh, Tensor? weight_ch, Tensor? weight_gh, Tensor? weight_hr, "
      "Tensor? mask, Tensor? zone_c, Tensor? zone_h, Tensor(a!) gates, Tensor(b!) cs, Tensor(c!) hs, Tensor(d!) sh, "
      "Tensor(e!)? rs, Tensor(f!)? c_new, Tensor(g!)[] norm, int[] flags, float clip) -> ()");
  m.def(
      "lstm_loop_backward(Tensor gates, Tensor cs, Tensor c_new, Tensor sh, Tensor? grad_y, Tensor weight_hh, "
      "Tensor? weight_ch, Tensor? weight_gh, Tensor? weight_hr, Tensor? mask, Tensor? zone_c, Tensor? zone_h, "
      "Tensor(a!) dh, Tensor(b!) dc, Tensor(c!) dpre, Tensor(d!)? drs, Tensor(e!)? d_weight_ch, Tensor(f!)[] norm, "
      "int[] flags, float clip) -> ()");
}

TORCH_LIBRARY_IMPL(asr_lstm, CPU, m) {
  m.impl("lstm_loop_forward", &lstm_loop_forward);
  m.impl("lstm_loop_backward", &lstm_loop_backward);
}
