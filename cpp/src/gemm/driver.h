// The blocked loop nest shared by every ISA: K blocks (KC) -> M blocks (MC) -> packed column
// panels -> MR-row micro-tiles. Included ONLY inside an anonymous namespace of an ISA
// translation unit, so each TU gets its own internal copy compiled with its own flags.
// Needs: template <int M> static void UK::run(kc, A, rsa, csa, Bp, C, ldc, n, beta, bias) for
// M = 1..MR, computing C[M, n] = beta*C + A[M, kc] * Bp[kc, NR] (+ bias[n]).

inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }

// Runs whole panels of a block of M rows P at a time, then P/2 at a time, ..., within [lo, hi):
// upward from p (Down = false), advancing p past the panels done, or downward from p (the end,
// exclusive; Down = true), moving p down past them. What is left (down to one panel, or a last
// partial one) is for the caller.
template <typename T, int NR, typename UK, int M, int P, bool Down>
void wide_panels(int64_t lo, int64_t& p, int64_t hi, int64_t N, int64_t kc, const T* a, int64_t rsa,
                 int64_t csa, const T* Bp, int64_t K, T* C, int64_t ldc, T beta, const T* bias) {
  if constexpr (P > 1) {
    for (;;) {
      const int64_t q = Down ? p - P : p;  // the first of the P panels
      if (q < lo || q + P > hi || (q + P) * NR > N) break;
      UK::template run_panels<M, P>(kc, a, rsa, csa, Bp + q * K * NR, K * NR, C + q * NR, ldc, beta,
                                    bias ? bias + q * NR : nullptr);
      p = Down ? q : q + P;
    }
    wide_panels<T, NR, UK, M, P / 2, Down>(lo, p, hi, N, kc, a, rsa, csa, Bp, K, C, ldc, beta,
                                           bias);
  }
}

// wide_panels for a block of 1 or 2 rows (2 rows: half the panels per call).
template <typename T, int NR, typename UK, bool Down>
void wide_block(int64_t rows, int64_t lo, int64_t& p, int64_t hi, int64_t N, int64_t kc, const T* a,
                int64_t rsa, int64_t csa, const T* Bp, int64_t K, T* C, int64_t ldc, T beta,
                const T* bias) {
  if (rows == 1)
    wide_panels<T, NR, UK, 1, UK::kWidePanels, Down>(lo, p, hi, N, kc, a, rsa, csa, Bp, K, C, ldc,
                                                     beta, bias);
  else
    wide_panels<T, NR, UK, 2, UK::kWidePanels / 2, Down>(lo, p, hi, N, kc, a, rsa, csa, Bp, K, C,
                                                         ldc, beta, bias);
}

// UK::run<m> for a runtime m in 1..MR (the last rows of a block).
template <typename T, int MR, typename UK>
inline void run_rows(int m, int64_t kc, const T* a, int64_t rsa, int64_t csa, const T* bp, T* c,
                     int64_t ldc, int n, T beta, const T* bias, const T* pf, int64_t pf_lines) {
  if constexpr (MR > 1) {
    if (m < MR) {
      run_rows<T, MR - 1, UK>(m, kc, a, rsa, csa, bp, c, ldc, n, beta, bias, pf, pf_lines);
      return;
    }
  }
  UK::template run<MR>(kc, a, rsa, csa, bp, c, ldc, n, beta, bias, pf, pf_lines);
}

// Copies the block of a transposed A, op(A)(i,k) = A[i + k*csa] for rows [0, rows) and k in
// [0, kc), into tiles of MR rows, each [kc x MR] with row i of the tile at offset i (a last,
// shorter tile keeps the MR stride), so that the kernels read it with rsa = 1, csa = MR.
// Each k's values for all rows are one contiguous run, csa apart from the next k's (usually a
// new page): one pass over k spreads each run over the tiles, with the run kPf steps ahead
// prefetched, as the rows come from L3 or memory and the hardware prefetchers do not follow a
// new page each step.
// sums (nullptr: none): sums[i] += op(A)(i, k) for each k in order (see Kernels, asum).
template <typename T, int MR>
void pack_a_transposed(int64_t rows, int64_t kc, const T* A, int64_t csa, T* dst, T* sums) {
  constexpr int64_t kPf = 8;
  const int64_t run_lines = (rows * static_cast<int64_t>(sizeof(T)) + 63) / 64;
  for (int64_t k = 0; k < kc; ++k) {
    if (k + kPf < kc)
      for (int64_t l = 0; l < run_lines; ++l)
        __builtin_prefetch(reinterpret_cast<const char*>(A + (k + kPf) * csa) + 64 * l, 0, 3);
    const T* a = A + k * csa;
    if (sums)
      for (int64_t i = 0; i < rows; ++i) sums[i] += a[i];
    for (int64_t i0 = 0, t = 0; i0 < rows; i0 += MR, ++t) {
      const int64_t m = imin(MR, rows - i0);
      T* d = dst + t * MR * kc + k * MR;
      for (int64_t i = 0; i < m; ++i) d[i] = a[i0 + i];
    }
  }
}

template <typename T, int MR, int NR, typename UK>
void serial_driver(int64_t m0, int64_t m1, int64_t p0, int64_t p1, const T* A, int64_t rsa,
                   int64_t csa, const T* Bp, int64_t K, int64_t N, T beta, const T* bias, T* C,
                   int64_t ldc, T* apack, T* asum, const Walk& walk) {
  if (K == 0) {  // C = beta*C (+ bias)
    for (int64_t i = m0; i < m1; ++i)
      for (int64_t j = p0 * NR; j < imin(N, p1 * NR); ++j)
        C[i * ldc + j] = (beta == T(0) ? T(0) : beta * C[i * ldc + j]) + (bias ? bias[j] : T(0));
    return;
  }
  const int64_t depth = walk.step ? K : kKC;
  for (int64_t pc = 0; pc < K; pc += depth) {
    const int64_t kc = imin(depth, K - pc);
    const T b = pc == 0 ? beta : T(1);
    const T* bs = pc == 0 ? bias : nullptr;
    for (int64_t ic = m0; ic < m1; ic += kMC) {
      const int64_t mc_end = imin(m1, ic + kMC);
      const int64_t rows = mc_end - ic;
      // A transposed A (the weight gradients' dG^T) is packed when two or more panels reuse
      // the block: read in place, each step of k is a new cache line and page. Rows of a plain
      // A are read in place: packing them is slower (docs/ARCHITECTURE.md).
      // (Packed whenever its row sums are asked for: even for one panel, or a one-row A.)
      const bool packed = apack && rsa == 1 && ((csa != 1 && p1 - p0 >= 2) || asum) && kc <= kKC;
      if (packed)
        pack_a_transposed<T, MR>(rows, kc, A + ic + pc * csa, csa, apack,
                                 asum ? asum + (ic - m0) : nullptr);
      const int64_t brsa = packed ? 1 : rsa, bcsa = packed ? MR : csa;
      // The next panel's slice (2*kc lines of 64 bytes for a 128-byte panel row) is
      // prefetched into L2 in shares over this panel's tiles: a packed B larger than L2
      // otherwise reaches each panel's first tile from L3 on demand, at a fraction of the
      // rate the kernel consumes it.
      const int64_t tiles = (rows + MR - 1) / MR;
      const int64_t lines = kc * NR * static_cast<int64_t>(sizeof(T)) / 64;
      const int64_t share = (lines + tiles - 1) / tiles;
      // Every row tile of panel p, prefetching panel `next` (-1: none).
      auto one_panel = [&](int64_t p, int64_t next) {
        const T* bp = Bp + p * K * NR + pc * NR;
        const T* bsp = bs ? bs + p * NR : nullptr;
        const int n = static_cast<int>(imin(NR, N - p * NR));
        const T* nx = next >= 0 ? Bp + next * K * NR + pc * NR : nullptr;
        for (int64_t i = ic, t = 0, m = 0; i < mc_end; i += m, ++t) {
          // A last tile of a few rows has too few accumulators to hide the FMA latency: with
          // at most MR/2 rows past a full tile, the two share the rows evenly (7 -> 4 + 3
          // instead of 6 + 1). Each element is still summed over k in order: bitwise the same.
          // A packed A is laid out in tiles of MR rows and keeps them.
          const int64_t left = mc_end - i;
          m = !packed && left > MR && left - MR <= MR / 2 ? (left + 1) / 2 : imin(MR, left);
          const T* a = packed ? apack + t * MR * kc : A + i * rsa + pc * csa;
          T* c = C + i * ldc + p * NR;
          const int64_t first = t * share;
          const int64_t count = nx && first < lines ? imin(share, lines - first) : 0;
          run_rows<T, MR, UK>(static_cast<int>(m), kc, a, brsa, bcsa, bp, c, ldc, n, b, bsp,
                              count ? nx + first * (64 / sizeof(T)) : nullptr, count);
        }
      };
      // A block of 1 or 2 rows runs several whole panels per call (run_panels).
      const bool wide = UK::kWidePanels > 1 && rows <= 2;
      const T* a = A + ic * rsa + pc * csa;
      T* c = C + ic * ldc;
      if (!walk.reverse) {
        int64_t p = p0;
        if (wide)
          wide_block<T, NR, UK, false>(rows, p0, p, p1, N, kc, a, rsa, csa, Bp + pc * NR, K, c, ldc,
                                       b, bs);
        for (; p < p1; ++p) one_panel(p, p + 1 < p1 ? p + 1 : -1);
      } else {
        int64_t p = p1;
        if (wide && p * NR > N) {  // a last, partial panel first: the wide calls need whole ones
          one_panel(p - 1, p - 2 >= p0 ? p - 2 : -1);
          --p;
        }
        if (wide)
          wide_block<T, NR, UK, true>(rows, p0, p, p1, N, kc, a, rsa, csa, Bp + pc * NR, K, c, ldc,
                                      b, bs);
        for (; p > p0; --p) one_panel(p - 1, p - 2 >= p0 ? p - 2 : -1);
      }
    }
  }
}

// Writes a register tile held in `tile` [M x NR] to C[M x n] with beta (and bias[n]).
template <typename T, int M, int NR>
inline void store_tile(const T* tile, T* C, int64_t ldc, int n, T beta, const T* bias) {
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < n; ++j) {
      const T v = bias ? tile[i * NR + j] + bias[j] : tile[i * NR + j];
      C[i * ldc + j] = beta == T(0) ? v : beta * C[i * ldc + j] + v;
    }
}

// Unpacked C[M,N] = beta*C + A[M,K] * op(B) for small M. The dot-product form (transB) keeps
// 16 independent partial sums so it vectorizes without reassociation.
template <typename T>
void direct_product(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B,
                    int64_t ldb, bool transB, T beta, T* C, int64_t ldc) {
  constexpr int L = 16;
  for (int64_t i = 0; i < M; ++i) {
    const T* a = A + i * lda;
    T* c = C + i * ldc;
    if (transB) {
      for (int64_t n = 0; n < N; ++n) {
        const T* b = B + n * ldb;
        T part[L];
        for (int j = 0; j < L; ++j) part[j] = T(0);
        int64_t k = 0;
        for (; k + L <= K; k += L)
          for (int j = 0; j < L; ++j) part[j] += a[k + j] * b[k + j];
        T acc = T(0);
        for (; k < K; ++k) acc += a[k] * b[k];
        for (int j = 0; j < L; ++j) acc += part[j];
        c[n] = beta == T(0) ? acc : beta * c[n] + acc;
      }
    } else {
      if (beta == T(0)) {
        for (int64_t n = 0; n < N; ++n) c[n] = T(0);
      } else if (beta != T(1)) {
        for (int64_t n = 0; n < N; ++n) c[n] *= beta;
      }
      for (int64_t k = 0; k < K; ++k) {
        const T ak = a[k];
        const T* b = B + k * ldb;
        for (int64_t n = 0; n < N; ++n) c[n] += ak * b[n];
      }
    }
  }
}

// The table of one ISA: serial drivers for both types (micro-kernels KF, KD with MR rows) and
// the direct products.
template <typename T, int MR, typename UK>
void serial_fn(int64_t m0, int64_t m1, int64_t p0, int64_t p1, const T* A, int64_t rsa, int64_t csa,
               const T* Bp, int64_t K, int64_t N, T beta, const T* bias, T* C, int64_t ldc,
               T* apack, T* asum, const Walk& walk) {
  serial_driver<T, MR, UK::NR, UK>(m0, m1, p0, p1, A, rsa, csa, Bp, K, N, beta, bias, C, ldc, apack,
                                   asum, walk);
}

template <int MR, typename KF, typename KD>
constexpr Kernels kernel_table(const char* name) {
  return {name,
          MR,
          {KF::NR, 1, serial_fn<float, MR, KF>, direct_product<float>},
          {KD::NR, 1, serial_fn<double, MR, KD>, direct_product<double>}};
}
