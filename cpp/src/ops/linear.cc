// Linear (y = x W^T + b) and Embedding (a row gather and its scatter-add), forward and
// backward. Linear is three products on the library's GEMM: the bias goes in the forward's
// epilogue, and the bias gradient is summed as the dW product packs dy^T (gemm.h, asum).
// Embedding's backward adds each table row's gradients in order of the indices, rows split over
// the team by a counting sort of the indices: bitwise numpy.add.at's result, at any thread
// count (for normal numbers: like every kernel, the ops run with subnormals flushed to zero,
// threads.h DenormalsOff).
#include <algorithm>
#include <cstring>

#include "gemm/gemm.h"
#include "ops/common.h"
#include "rnnfast/ops.h"

namespace rnnfast {
namespace ops {

using detail::fail;
using detail::str;

namespace {

void check_linear_dims(int64_t M, int64_t K, int64_t N) {
  detail::check_size("M", M, 0, "a number of rows");
  detail::check_size("K", K, 0, "in_features");
  detail::check_size("N", N, 0, "out_features");
  detail::check_extent("linear: M, K, N", static_cast<double>(M) * K + static_cast<double>(M) * N +
                                              static_cast<double>(N) * K);
}

}  // namespace

template <typename T>
void linear_forward(T* y, const T* x, const T* w, const T* b, int64_t M, int64_t K, int64_t N) {
  check_linear_dims(M, K, N);
  detail::need(y, "y", "[M,N]", M * N);
  detail::need(x, "x", "[M,K]", M * K);
  detail::need(w, "w", "[N,K]", N * K);
  if (M == 0 || N == 0) return;
  const rnnfast::detail::DenormalsOff flush;
  const int64_t ld = K > 1 ? K : 1;
  gemm::gemm<T>(false, true, M, N, K, x, ld, w, ld, T(0), y, N, b);
}

template <typename T>
void linear_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, int64_t M, int64_t K,
                     int64_t N) {
  check_linear_dims(M, K, N);
  detail::need(dy, "dy", "[M,N]", M * N);
  if (dx) detail::need(w, "w", "[N,K] (to compute dx)", N * K);
  if (dw) detail::need(x, "x", "[M,K] (to compute dw)", M * K);
  if (M == 0) return;  // nothing to write, nothing to add
  const rnnfast::detail::DenormalsOff flush;
  const int64_t ldk = K > 1 ? K : 1;
  if (dx && K > 0) {
    if (N == 0)
      std::memset(static_cast<void*>(dx), 0, sizeof(T) * M * K);
    else
      gemm::gemm<T>(false, false, M, K, N, dy, N, w, ldk, T(0), dx, ldk);
  }
  if (N == 0) return;
  // dw += dy^T x: op(A) = dy^T [N,M]; its row sums are db's increments.
  const bool fused = dw && K > 0;
  if (fused) gemm::gemm<T>(true, false, N, K, M, dy, N, x, ldk, T(1), dw, ldk, nullptr, db);
  if (db && !fused) {
    // The same additions, in the same order, as the sums taken while packing.
    for (int64_t i = 0; i < M; ++i) {
      const T* r = dy + i * N;
      for (int64_t j = 0; j < N; ++j) db[j] += r[j];
    }
  }
}

template <typename T>
void embedding_forward(T* y, const int64_t* indices, const T* weight, int64_t n, int64_t V,
                       int64_t D) {
  detail::check_size("n", n, 0, "a number of indices");
  detail::check_size("V", V, 0, "num_embeddings");
  detail::check_size("D", D, 0, "embedding_dim");
  detail::check_extent("embedding: n, V, D",
                       static_cast<double>(n) * D + static_cast<double>(V) * D);
  detail::need(indices, "indices", "[n]", n);
  detail::need(y, "y", "[n,D]", n * D);
  detail::need(weight, "weight", "[V,D]", V * D);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t v = indices[i];
    if (v < 0 || v >= V)
      throw std::out_of_range("indices: index " + str(v) + " is out of range for " + str(V) +
                              " embeddings (valid indices: 0 to " + str(V - 1) + ")");
  }
  if (D == 0) return;
  const int nt = detail::team_for_ns(static_cast<double>(n) * D * 0.3);  // copies only
  detail::split(n, nt, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      std::memcpy(y + i * D, weight + indices[i] * D, sizeof(T) * D);
  });
}

template <typename T>
void embedding_backward(T* dweight, const T* dy, const int64_t* indices, int64_t n, int64_t V,
                        int64_t D, int64_t padding_idx) {
  detail::check_size("n", n, 0, "a number of indices");
  detail::check_size("V", V, 0, "num_embeddings");
  detail::check_size("D", D, 0, "embedding_dim");
  detail::check_extent("embedding: n, V, D",
                       static_cast<double>(n) * D + static_cast<double>(V) * D);
  if (padding_idx < -1 || padding_idx >= V)
    fail("padding_idx: expected -1 (none) or an index in [0, " + str(V) + "), got " +
         str(padding_idx));
  detail::need(indices, "indices", "[n]", n);
  detail::need(dy, "dy", "[n,D]", n * D);
  detail::need(dweight, "dweight", "[V,D]", V * D);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t v = indices[i];
    if (v < 0 || v >= V)
      throw std::out_of_range("indices: index " + str(v) + " is out of range for " + str(V) +
                              " embeddings (valid indices: 0 to " + str(V - 1) + ")");
  }
  if (n == 0 || D == 0) return;
  const rnnfast::detail::DenormalsOff flush;
  auto add_row = [D](T* __restrict dst, const T* __restrict src) {
    for (int64_t j = 0; j < D; ++j) dst[j] += src[j];
  };
  const int nt = detail::team_for_ns(static_cast<double>(n) * D * 0.5);
  if (nt <= 1) {
    for (int64_t i = 0; i < n; ++i)
      if (indices[i] != padding_idx) add_row(dweight + indices[i] * D, dy + i * D);
    return;
  }
  // A stable counting sort of the positions by row: row v's positions are order[start[v] ..
  // start[v+1]), ascending. Each thread takes the rows whose positions fall in its equal share
  // of all positions, so that every row is one thread's, summed in order of i.
  detail::OpsScratch& s = detail::scratch();
  int64_t* start = s.get<int64_t>(detail::kSortCounts, static_cast<size_t>(V) + 1);
  int64_t* order = s.get<int64_t>(detail::kSortOrder, static_cast<size_t>(n));
  std::fill_n(start, V + 1, int64_t(0));
  for (int64_t i = 0; i < n; ++i)
    if (indices[i] != padding_idx) ++start[indices[i] + 1];
  for (int64_t v = 0; v < V; ++v) start[v + 1] += start[v];
  const int64_t total = start[V];
  {
    int64_t* next = s.get<int64_t>(detail::kRowLoss, static_cast<size_t>(V));  // fill cursors
    std::copy_n(start, V, next);
    for (int64_t i = 0; i < n; ++i)
      if (indices[i] != padding_idx) order[next[indices[i]]++] = i;
  }
  detail::split(total, nt, [&](int64_t k0, int64_t k1) {
    // rows whose first position lies in [k0, k1)
    const int64_t v0 = std::lower_bound(start, start + V, k0) - start;
    const int64_t v1 = k1 == total ? V : std::lower_bound(start, start + V, k1) - start;
    for (int64_t v = v0; v < v1; ++v) {
      T* dst = dweight + v * D;
      for (int64_t k = start[v]; k < start[v + 1]; ++k) add_row(dst, dy + order[k] * D);
    }
  });
}

#define RNNFAST_INSTANTIATE(T)                                                                  \
  template void linear_forward<T>(T*, const T*, const T*, const T*, int64_t, int64_t, int64_t); \
  template void linear_backward<T>(T*, T*, T*, const T*, const T*, const T*, int64_t, int64_t,  \
                                   int64_t);                                                    \
  template void embedding_forward<T>(T*, const int64_t*, const T*, int64_t, int64_t, int64_t);  \
  template void embedding_backward<T>(T*, const T*, const int64_t*, int64_t, int64_t, int64_t,  \
                                      int64_t);
RNNFAST_INSTANTIATE(float)
RNNFAST_INSTANTIATE(double)
#undef RNNFAST_INSTANTIATE

}  // namespace ops
}  // namespace rnnfast
