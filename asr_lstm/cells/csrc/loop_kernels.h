// What the compiled CPU time loops share (lstm_loop.cpp, gru_loop.cpp): vectorised activations, the
// register-tiled product of a block of units with its packed rows of U, the split of units between
// threads, the team that runs a loop's steps, and the row statistics of layer normalisation.
#pragma once

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <utility>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace loop_kernels {

using at::Tensor;
using at::vec::Vectorized;

enum Activation : int64_t { kSigmoid = 0, kTanh = 1, kIdentity = 2, kRelu = 3 };

// Units per thread below which splitting a step costs more than it saves.
constexpr int64_t kMinBlock = 64;

// tanh in float32 as the rational minimax approximation of Eigen's generic_fast_tanh_float (odd degree
// 13 over even degree 6, on inputs clamped to +-7.9, where tanh rounds to +-1; x itself below 4e-4):
// within a few ulp, inlined, where Sleef's tanh is a call that cost a fifth of a forward step here.
inline Vectorized<float> fast_tanh(const Vectorized<float>& a) {
  using V = Vectorized<float>;
  const V x = at::vec::clamp(a, V(-7.90531110763549805f), V(7.90531110763549805f));
  const V x2 = x * x;
  V p = at::vec::fmadd(x2, V(-2.76076847742355e-16f), V(2.00018790482477e-13f));
  p = at::vec::fmadd(x2, p, V(-8.60467152213735e-11f));
  p = at::vec::fmadd(x2, p, V(5.12229709037114e-08f));
  p = at::vec::fmadd(x2, p, V(1.48572235717979e-05f));
  p = at::vec::fmadd(x2, p, V(6.37261928875436e-04f));
  p = at::vec::fmadd(x2, p, V(4.89352455891786e-03f));
  p = x * p;
  V q = at::vec::fmadd(x2, V(1.19825839466702e-06f), V(1.18534705686654e-04f));
  q = at::vec::fmadd(x2, q, V(2.26843463243900e-03f));
  q = at::vec::fmadd(x2, q, V(4.89352518554385e-03f));
  return V::blendv(p / q, x, a.abs() < V(0.0004f));
}

inline Vectorized<double> fast_tanh(const Vectorized<double>& a) {
  return a.tanh();
}

// sigma(a). In float32 the sigmoid's exponential is ATen's inlined one of at most 20 ulp (2.4e-6
// relative) and tanh is fast_tanh; float64 keeps the full-precision functions.
template <typename T>
inline Vectorized<T> activate(const Vectorized<T>& a, int64_t code) {
  const Vectorized<T> one(T(1));
  if (code == kSigmoid) return one / (one + a.neg().exp_u20());
  if (code == kTanh) return fast_tanh(a);
  if (code == kRelu) return at::vec::maximum(a, Vectorized<T>(T(0)));
  return a;
}

// d sigma(a) / d a written with y = sigma(a).
template <typename T>
inline Vectorized<T> derivative(const Vectorized<T>& y, int64_t code) {
  const Vectorized<T> one(T(1));
  if (code == kSigmoid) return y * (one - y);
  if (code == kTanh) return one - y * y;
  if (code == kRelu) return Vectorized<T>::blendv(Vectorized<T>(T(0)), one, y > Vectorized<T>(T(0)));
  return one;
}

// torch.lerp(start, end, weight): start + w (end - start) for w < 1/2, end - (end - start)(1 - w) above,
// so that w = 1 gives end exactly (zoneout's d_t is 0 or 1 in training).
template <typename T>
inline Vectorized<T> lerp(const Vectorized<T>& start, const Vectorized<T>& end, const Vectorized<T>& weight) {
  const Vectorized<T> difference = end - start, one(T(1));
  return Vectorized<T>::blendv(at::vec::fmadd(weight, difference, start),
                               at::vec::fnmadd(difference, one - weight, end), weight >= Vectorized<T>(T(0.5)));
}

template <typename T>
inline T lerp(T start, T end, T weight) {
  return weight < T(0.5) ? std::fma(weight, end - start, start) : std::fma(start - end, T(1) - weight, end);
}

// The recurrent product of one thread's block, C (M, N) = A (M, K) @ B, with B packed once per sequence
// into panels of Width = Vectors x (vector width) columns, (N / Width, K, Width), zero-padded: each
// kTileRows x Width tile of C sums over K in kTileRows x Vectors vector registers, B streamed once per
// kTileRows rows (then 4 rows, then 1). On this small M (the batch) a BLAS call reaches about half the
// arithmetic rate of these tiles, having to pack B anew every step. Forward (N = 4 x block) uses 3
// vectors a panel, backward (N = block) 2. AVX-512's 32 vector registers hold 8 rows of 3 vectors with
// the panel's 3 and a broadcast (4 rows took about 5 % longer a step there); AVX2's 16 hold 4 rows.
#if defined(CPU_CAPABILITY_AVX512)
constexpr int kTileRows = 8;
#else
constexpr int kTileRows = 4;
#endif

template <typename T, int Vectors>
constexpr int64_t panel_width() {
  return Vectors * Vectorized<T>::size();
}

template <typename T, int Rows, int Vectors, bool Accumulate>
inline void gemm_tile(const T* a, int64_t lda, const T* panel, int64_t depth, T* c, int64_t ldc) {
  using V = Vectorized<T>;
  V acc[Rows][Vectors];
  for (int r = 0; r < Rows; ++r)
    for (int v = 0; v < Vectors; ++v) acc[r][v] = Accumulate ? V::loadu(c + r * ldc + v * V::size()) : V(T(0));
  for (int64_t k = 0; k < depth; ++k) {
    V b[Vectors];
    for (int v = 0; v < Vectors; ++v) b[v] = V::loadu(panel + (k * Vectors + v) * V::size());
    for (int r = 0; r < Rows; ++r) {
      const V a_rk(a[r * lda + k]);
      for (int v = 0; v < Vectors; ++v) acc[r][v] = at::vec::fmadd(a_rk, b[v], acc[r][v]);
    }
  }
  for (int r = 0; r < Rows; ++r)
    for (int v = 0; v < Vectors; ++v) acc[r][v].store(c + r * ldc + v * V::size());
}

// C (M, panels.size(0) x Width), row stride ldc, = A (M, K), row stride lda, @ the packed B (C += with
// Accumulate).
template <typename T, int Vectors, bool Accumulate = false>
void panel_gemm(const T* a, int64_t lda, int64_t rows, const Tensor& panels, T* c, int64_t ldc) {
  constexpr int64_t width = panel_width<T, Vectors>();
  const int64_t depth = panels.size(1);
  const T* packed = panels.const_data_ptr<T>();
  for (int64_t p = 0; p < panels.size(0); ++p) {
    const T* panel = packed + p * depth * width;
    int64_t i = 0;
    if constexpr (kTileRows == 8)
      for (; i + 8 <= rows; i += 8)
        gemm_tile<T, 8, Vectors, Accumulate>(a + i * lda, lda, panel, depth, c + i * ldc + p * width, ldc);
    for (; i + 4 <= rows; i += 4)
      gemm_tile<T, 4, Vectors, Accumulate>(a + i * lda, lda, panel, depth, c + i * ldc + p * width, ldc);
    for (; i < rows; ++i)
      gemm_tile<T, 1, Vectors, Accumulate>(a + i * lda, lda, panel, depth, c + i * ldc + p * width, ldc);
  }
}

// B (K, N), any strides, as panels of Width columns (N / Width rounded up, K, Width), zero-padded.
template <typename T, int Vectors>
Tensor pack_panels(const Tensor& b) {
  constexpr int64_t width = panel_width<T, Vectors>();
  const int64_t depth = b.size(0), columns = b.size(1);
  const int64_t padded = (columns + width - 1) / width * width;
  Tensor packed = at::zeros({depth, padded}, b.options());
  packed.narrow(1, 0, columns).copy_(b);
  return packed.view({depth, padded / width, width}).permute({1, 0, 2}).contiguous();
}

constexpr int kForwardVectors = 3, kBackwardVectors = 2;

// A range of hidden units [begin, begin + size) handled by one thread.
struct Block {
  int64_t begin, size;
};

// Splits n units into at most one block per thread, each a multiple of the vector width but the last.
inline std::vector<Block> split_units(int64_t n, int64_t width) {
  const int64_t wanted = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), n / kMinBlock));
  const int64_t size = (n + wanted - 1) / wanted;
  const int64_t rounded = (size + width - 1) / width * width;
  std::vector<Block> blocks;
  for (int64_t begin = 0; begin < n; begin += rounded) blocks.push_back({begin, std::min(rounded, n - begin)});
  return blocks;
}

// The threads of the enclosing OpenMP team: how many, and which one this is (1 and 0 without OpenMP).
inline int team_size() {
#ifdef _OPENMP
  return omp_get_num_threads();
#else
  return 1;
#endif
}

inline int team_rank() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

// One part of a step: body(i, k) for each of its blocks k, every block on its own thread.
struct Phase {
  int64_t blocks;
  std::function<void(int64_t, int64_t)> body;
};

// Runs the phases of step i = 0 ... count - 1, in order: each phase's blocks in parallel, the threads
// meeting at a barrier after each phase. One team of threads runs the whole loop and meets at barriers
// only, so that no thread waits on the main thread's bookkeeping or a region's start (the bodies call
// no ATen operator, which could not use the threads inside the region).
inline void run_steps(int64_t count, const std::vector<Phase>& phases) {
  int64_t threads = 1;
  for (const Phase& phase : phases) threads = std::max(threads, phase.blocks);
#pragma omp parallel num_threads(static_cast<int>(threads)) if (threads > 1)
  {
    const int team = team_size(), rank = team_rank();
    for (int64_t i = 0; i < count; ++i)
      for (const Phase& phase : phases) {
        for (int64_t k = rank; k < phase.blocks; k += team) phase.body(i, k);
#pragma omp barrier
      }
  }
}

// The rows of U (G H, R) that produce the G gates of each block, block after block: (G H, R), the
// rows of block k at G * begin_k ... G * (begin_k + size_k).
inline Tensor rows_by_block(const Tensor& weight, const std::vector<Block>& blocks, int64_t hidden, int64_t gates) {
  std::vector<int64_t> order;
  order.reserve(gates * hidden);
  for (const Block& block : blocks)
    for (int64_t q = 0; q < gates; ++q)
      for (int64_t j = block.begin; j < block.begin + block.size; ++j) order.push_back(q * hidden + j);
  return weight.index_select(0, at::tensor(order, at::kLong)).contiguous();
}

// The buffers an operator writes: contiguous CPU tensors of one floating dtype.
inline void check_buffers(const char* op, const std::vector<Tensor>& buffers) {
  const auto dtype = buffers.front().scalar_type();
  TORCH_CHECK(dtype == at::kFloat || dtype == at::kDouble, op, ": float32 or float64 expected, got ", dtype);
  for (const Tensor& t : buffers)
    TORCH_CHECK(t.device().is_cpu() && t.is_contiguous() && t.scalar_type() == dtype, op,
                ": contiguous CPU buffers of one dtype expected");
}

template <typename T>
const T* data_or_null(const Tensor& t) {
  return t.defined() ? t.const_data_ptr<T>() : nullptr;
}

// out = in o mask over the units of one block, (B, H) each.
template <typename T>
void mask_block(const T* in, const T* mask, T* out, const Block& block, int64_t batch, int64_t hidden) {
  using V = Vectorized<T>;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t j = block.begin; j < block.begin + block.size; j += V::size()) {
      const int64_t m = std::min<int64_t>(V::size(), block.begin + block.size - j), k = b * hidden + j;
      (V::loadu(in + k, m) * V::loadu(mask + k, m)).store(out + k, m);
    }
}

// For each block of columns [begin, begin + size) of B (K, N): its columns as panels, and a (M, panels
// x Width) buffer for their product with an (M, K) matrix.
template <typename T, int Vectors>
void pack_columns(const Tensor& b, const std::vector<Block>& columns, int64_t rows, std::vector<Tensor>& panels,
                  std::vector<Tensor>& products) {
  for (const Block& c : columns) {
    panels.push_back(pack_panels<T, Vectors>(b.narrow(1, c.begin, c.size)));
    products.push_back(at::empty({rows, panels.back().size(0) * panel_width<T, Vectors>()}, b.options()));
  }
}

// Layer normalisation in a loop whose blocks each hold part of a row (lstm_loop.cpp, gru_loop.cpp): every
// block writes its rows' partial moments (mean, M2) or gradient sums to stats (blocks, B, 2), and after
// a barrier each block combines them.
constexpr double kLayerNormEps = 1e-5;  // recurrence.LAYER_NORM_EPS

template <typename T>
T horizontal_sum(const Vectorized<T>& v) {
  T lanes[Vectorized<T>::size()];
  v.store(lanes);
  T sum = 0;
  for (const T lane : lanes) sum += lane;
  return sum;
}

// (mean, M2) of v[0 ... n) into out[0], out[1], in two passes.
template <typename T>
void moments(const T* v, int64_t n, T* out) {
  using V = Vectorized<T>;
  constexpr int64_t kWidth = V::size();
  const int64_t whole = n / kWidth * kWidth;
  V acc(T(0));
  for (int64_t i = 0; i < whole; i += kWidth) acc = acc + V::loadu(v + i);
  T sum = horizontal_sum(acc);
  for (int64_t i = whole; i < n; ++i) sum += v[i];
  const T mean = sum / static_cast<T>(n);
  const V mean_v(mean);
  V squares(T(0));
  for (int64_t i = 0; i < whole; i += kWidth) {
    const V d = V::loadu(v + i) - mean_v;
    squares = at::vec::fmadd(d, d, squares);
  }
  T m2 = horizontal_sum(squares);
  for (int64_t i = whole; i < n; ++i) m2 += (v[i] - mean) * (v[i] - mean);
  out[0] = mean;
  out[1] = m2;
}

// The mean and 1 / sqrt(var + eps) of a row from its blocks' partial moments, per_unit entries a unit.
template <typename T>
std::pair<T, T> combine_moments(const T* stats, const std::vector<Block>& blocks, int64_t row, int64_t batch,
                                int64_t per_unit) {
  T count = 0, mean = 0, m2 = 0;
  for (size_t k = 0; k < blocks.size(); ++k) {
    const T* part = stats + (static_cast<int64_t>(k) * batch + row) * 2;
    const T n = static_cast<T>(per_unit * blocks[k].size), total = count + n, delta = part[0] - mean;
    mean += delta * n / total;
    m2 += part[1] + delta * delta * count * n / total;
    count = total;
  }
  return {mean, T(1) / std::sqrt(m2 / count + static_cast<T>(kLayerNormEps))};
}

// mean(g) and mean(g o z) of a row over count entries, from the blocks' sums.
template <typename T>
std::pair<T, T> combine_sums(const T* stats, int64_t blocks, int64_t row, int64_t batch, int64_t count) {
  T sum = 0, projected = 0;
  for (int64_t k = 0; k < blocks; ++k) {
    sum += stats[(k * batch + row) * 2];
    projected += stats[(k * batch + row) * 2 + 1];
  }
  return {sum / static_cast<T>(count), projected / static_cast<T>(count)};
}

}  // namespace loop_kernels
