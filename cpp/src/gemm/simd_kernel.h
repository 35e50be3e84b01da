// A register-tile micro-kernel written once over a vector-traits type Vt (W lanes, load/store,
// set1, fma, add) with NV vectors per row: C[M, NR = NV*W] = beta*C + A[M, kc] * Bp[kc, NR]
// (+ bias[NR] on every row).
// Included ONLY inside an anonymous namespace of an ISA translation unit (after driver.h),
// which defines the traits with that ISA's intrinsics and is compiled with its flags.

template <typename T, typename Vt, int NV>
struct SimdKernel {
  static constexpr int NR = NV * Vt::W;
  using V = typename Vt::V;

  // C[M, NR] = beta*C + acc (+ bias on every row), a whole register tile.
  template <int M>
  static void store_full(V (&acc)[M][NV], T* C, int64_t ldc, T beta, const T* bias) {
    if (bias)
      for (int j = 0; j < NV; ++j) {
        const V vb = Vt::load(bias + j * Vt::W);
        for (int i = 0; i < M; ++i) acc[i][j] = Vt::add(acc[i][j], vb);
      }
    if (beta == T(0)) {
      for (int i = 0; i < M; ++i)
        for (int j = 0; j < NV; ++j) Vt::store(C + i * ldc + j * Vt::W, acc[i][j]);
    } else {
      const V vb = Vt::set1(beta);
      for (int i = 0; i < M; ++i)
        for (int j = 0; j < NV; ++j) {
          T* c = C + i * ldc + j * Vt::W;
          Vt::store(c, Vt::fma(vb, Vt::load(c), acc[i][j]));
        }
    }
  }

  // C is read (beta != 0) or written only at the end of a tile: start fetching its lines for
  // writing first, so that the misses (from L3 or memory in a big product) overlap the k loop.
  template <int M>
  static void prefetch_c(T* C, int64_t ldc) {
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < NR; j += 64 / static_cast<int>(sizeof(T)))
        __builtin_prefetch(C + i * ldc + j, 1);
  }

  // C[M, n] = beta*C + tile (+ bias), from a 64-byte-aligned [M x NR] array.
  template <int M>
  static void store_array(const T* tile, T* C, int64_t ldc, int n, T beta, const T* bias) {
    if (n != NR) {
      store_tile<T, M, NR>(tile, C, ldc, n, beta, bias);
      return;
    }
    V acc[M][NV];
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < NV; ++j) acc[i][j] = Vt::load(tile + i * NR + j * Vt::W);
    store_full<M>(acc, C, ldc, beta, bias);
  }

  // pf: pf_lines cache lines (64 bytes) to prefetch into L2 while computing, one or two per
  // step of k: the driver hands each tile of a block a share of the next panel, so that the
  // panel's first tile does not wait on L3 (see driver.h).
  template <int M>
  static void run(int64_t kc, const T* A, int64_t rsa, int64_t csa, const T* Bp, T* C, int64_t ldc,
                  int n, T beta, const T* bias, const T* pf, int64_t pf_lines) {
    V acc[M][NV];
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < NV; ++j) acc[i][j] = Vt::zero();
    prefetch_c<M>(C, ldc);
    const T* a_row[M];
    for (int i = 0; i < M; ++i) a_row[i] = A + i * rsa;
    const char* pfc = reinterpret_cast<const char*>(pf);
    const int64_t pf_end = pf_lines * 64, pf_step = pf_lines > kc ? 128 : 64;
    int64_t pf_off = 0;
    // Two steps of k per iteration (four gain nothing more; docs/ARCHITECTURE.md).
#pragma GCC unroll 2
    for (int64_t k = 0; k < kc; ++k) {
      if (pf_off < pf_end) {
        __builtin_prefetch(pfc + pf_off, 0, 2);
        if (pf_step > 64) __builtin_prefetch(pfc + pf_off + 64, 0, 2);
        pf_off += pf_step;
      }
      V b[NV];
      for (int j = 0; j < NV; ++j) b[j] = Vt::load(Bp + k * NR + j * Vt::W);
      for (int i = 0; i < M; ++i) {
        const V a = Vt::set1(a_row[i][k * csa]);
        for (int j = 0; j < NV; ++j) acc[i][j] = Vt::fma(a, b[j], acc[i][j]);
      }
    }
    if (n == NR) {
      store_full<M>(acc, C, ldc, beta, bias);
      return;
    }
    alignas(64) T tile[M * NR];
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < NV; ++j) Vt::store(tile + i * NR + j * Vt::W, acc[i][j]);
    store_tile<T, M, NR>(tile, C, ldc, n, beta, bias);
  }

  // P whole panels (ps elements apart) at once for a tile of M <= 2 rows: one panel has only
  // M*NV accumulators, each a chain of dependent FMAs, so a lone row (batch 1) would wait on
  // the FMA latency; P panels give P times the independent chains. Each element is still summed
  // over k in order, so the result is bitwise that of run<M> panel by panel.
  // P for M = 1 (M = 2 takes half): half the vector registers as accumulators, which streams
  // the weights from L2 near its bandwidth even at K = 256 (docs/ARCHITECTURE.md).
  static constexpr int kWidePanels = Vt::kRegs / 2 / NV;
  template <int M, int P>
  static void run_panels(int64_t kc, const T* A, int64_t rsa, int64_t csa, const T* Bp, int64_t ps,
                         T* C, int64_t ldc, T beta, const T* bias) {
    V acc[P][M][NV];
    for (int q = 0; q < P; ++q)
      for (int i = 0; i < M; ++i)
        for (int j = 0; j < NV; ++j) acc[q][i][j] = Vt::zero();
    for (int64_t k = 0; k < kc; ++k) {
      V a[M];
      for (int i = 0; i < M; ++i) a[i] = Vt::set1(A[i * rsa + k * csa]);
      for (int q = 0; q < P; ++q)
        for (int j = 0; j < NV; ++j) {
          const V b = Vt::load(Bp + q * ps + k * NR + j * Vt::W);
          for (int i = 0; i < M; ++i) acc[q][i][j] = Vt::fma(a[i], b, acc[q][i][j]);
        }
    }
    for (int q = 0; q < P; ++q)
      store_full<M>(acc[q], C + q * NR, ldc, beta, bias ? bias + q * NR : nullptr);
  }
};
