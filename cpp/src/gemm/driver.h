// The blocked loop nest shared by every ISA: K blocks (KC) -> M blocks (MC) -> packed column
// panels -> MR-row micro-tiles. Included ONLY inside an anonymous namespace of an ISA
// translation unit, so each TU gets its own internal copy compiled with its own flags.
// Needs: template <int M> static void UK::run(kc, A, rsa, csa, Bp, C, ldc, n, beta, bias) for
// M = 1..MR, computing C[M, n] = beta*C + A[M, kc] * Bp[kc, NR] (+ bias[n]).

inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }

// Runs whole panels p.. of a block of M rows P at a time, then P/2 at a time, ...; advances p
// past the panels done (the rest, down to one panel or the last partial one, are left).
template <typename T, int NR, typename UK, int M, int P>
void wide_panels(int64_t& p, int64_t p1, int64_t N, int64_t kc, const T* a, int64_t rsa,
                 int64_t csa, const T* Bp, int64_t K, T* C, int64_t ldc, T beta, const T* bias) {
  if constexpr (P > 1) {
    for (; p + P <= p1 && (p + P) * NR <= N; p += P)
      UK::template run_panels<M, P>(kc, a, rsa, csa, Bp + p * K * NR, K * NR, C + p * NR, ldc,
                                    beta, bias ? bias + p * NR : nullptr);
    wide_panels<T, NR, UK, M, P / 2>(p, p1, N, kc, a, rsa, csa, Bp, K, C, ldc, beta, bias);
  }
}

template <typename T, int MR, int NR, typename UK>
void serial_driver(int64_t m0, int64_t m1, int64_t p0, int64_t p1, const T* A, int64_t rsa,
                   int64_t csa, const T* Bp, int64_t K, int64_t N, T beta, const T* bias, T* C,
                   int64_t ldc) {
  if (K == 0) {  // C = beta*C (+ bias)
    for (int64_t i = m0; i < m1; ++i)
      for (int64_t j = p0 * NR; j < imin(N, p1 * NR); ++j)
        C[i * ldc + j] = (beta == T(0) ? T(0) : beta * C[i * ldc + j]) + (bias ? bias[j] : T(0));
    return;
  }
  static_assert(MR >= 1 && MR <= 8, "the switch below covers MR <= 8");
  for (int64_t pc = 0; pc < K; pc += kKC) {
    const int64_t kc = imin(kKC, K - pc);
    const T b = pc == 0 ? beta : T(1);
    const T* bs = pc == 0 ? bias : nullptr;
    for (int64_t ic = m0; ic < m1; ic += kMC) {
      const int64_t mc_end = imin(m1, ic + kMC);
      int64_t p = p0;
      if constexpr (UK::kWidePanels > 1) {  // a block of 1 or 2 rows: several panels per call
        const int64_t rows = mc_end - ic;
        const T* a = A + ic * rsa + pc * csa;
        T* c = C + ic * ldc;
        if (rows == 1) {
          wide_panels<T, NR, UK, 1, UK::kWidePanels>(p, p1, N, kc, a, rsa, csa, Bp + pc * NR, K,
                                                      c, ldc, b, bs);
        } else if (rows == 2) {
          wide_panels<T, NR, UK, 2, UK::kWidePanels / 2>(p, p1, N, kc, a, rsa, csa, Bp + pc * NR,
                                                          K, c, ldc, b, bs);
        }
      }
      for (; p < p1; ++p) {
        const T* bp = Bp + p * K * NR + pc * NR;
        const T* bsp = bs ? bs + p * NR : nullptr;
        const int n = static_cast<int>(imin(NR, N - p * NR));
        for (int64_t i = ic; i < mc_end; i += MR) {
          const int m = static_cast<int>(imin(MR, mc_end - i));
          const T* a = A + i * rsa + pc * csa;
          T* c = C + i * ldc + p * NR;
          switch (m) {
            case 8: if constexpr (MR >= 8) { UK::template run<8>(kc, a, rsa, csa, bp, c, ldc, n, b, bsp); break; } [[fallthrough]];
            case 7: if constexpr (MR >= 7) { UK::template run<7>(kc, a, rsa, csa, bp, c, ldc, n, b, bsp); break; } [[fallthrough]];
            case 6: if constexpr (MR >= 6) { UK::template run<6>(kc, a, rsa, csa, bp, c, ldc, n, b, bsp); break; } [[fallthrough]];
            case 5: if constexpr (MR >= 5) { UK::template run<5>(kc, a, rsa, csa, bp, c, ldc, n, b, bsp); break; } [[fallthrough]];
            case 4: if constexpr (MR >= 4) { UK::template run<4>(kc, a, rsa, csa, bp, c, ldc, n, b, bsp); break; } [[fallthrough]];
            case 3: if constexpr (MR >= 3) { UK::template run<3>(kc, a, rsa, csa, bp, c, ldc, n, b, bsp); break; } [[fallthrough]];
            case 2: if constexpr (MR >= 2) { UK::template run<2>(kc, a, rsa, csa, bp, c, ldc, n, b, bsp); break; } [[fallthrough]];
            default: UK::template run<1>(kc, a, rsa, csa, bp, c, ldc, n, b, bsp); break;
          }
        }
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
void serial_fn(int64_t m0, int64_t m1, int64_t p0, int64_t p1, const T* A, int64_t rsa,
               int64_t csa, const T* Bp, int64_t K, int64_t N, T beta, const T* bias, T* C,
               int64_t ldc) {
  serial_driver<T, MR, UK::NR, UK>(m0, m1, p0, p1, A, rsa, csa, Bp, K, N, beta, bias, C, ldc);
}

template <int MR, typename KF, typename KD>
constexpr Kernels kernel_table(const char* name) {
  return {name, KF::NR, KD::NR, MR, serial_fn<float, MR, KF>, serial_fn<double, MR, KD>,
          direct_product<float>, direct_product<double>};
}
