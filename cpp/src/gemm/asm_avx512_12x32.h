// The float 12x32 AVX-512 tile (kMR x 2 vectors) in GNU inline assembly, for the two layouts
// of A the driver hands a full tile:
//   plain      op(A)(i,k) = A[i*rsa + k]  (csa == 1: rows of the input, h_{t-1}, ...)
//   transposed op(A)(i,k) = A[i + k*csa]  (rsa == 1: a packed dG^T tile, csa == 12, or dG^T
//                                          read in place)
// Why assembly: compiled from the intrinsics (simd_kernel.h), GCC 12 holds the 12 row
// pointers of A partly in vector registers and on the stack, and pays a vmovq (on the FMA
// port) or a reload for several rows at every step of k. Here the rows are addressed from three
// bases (rows 0-3, 4-7, 8-11) with stride registers for plain A, or from one base with
// immediate displacements for transposed A, so a step is exactly 2 loads of B, 12 broadcasts
// and 24 FMAs, four steps per loop iteration.
// The result goes to a 64-byte-aligned [12 x 32] tile on the caller's stack; the caller applies
// beta and bias. The next panel's prefetch (see driver.h) is spread over the tile's groups of
// 4 steps: each of the first groups prefetches 1, 2, 4 or 8 lines into L2, the fewest that
// cover the tile's share over all its groups. Prefetches in bursts (4 lines per group over the
// first third of a 512-deep tile) hold more L3 misses in flight at once than the core tracks
// well (docs/ARCHITECTURE.md).
// Included only inside the anonymous namespace of ukernel_avx512.cc (compiled with -mavx512f).
// Results are bitwise those of SimdKernel<float, F32x16, 2>::run<12>: each element is the same
// chain of FMAs over k in order.

#if defined(__GNUC__) && defined(__x86_64__)
#define RNNFAST_ASM_TILE 1

// The assembly below is laid out by hand (one instruction or step per line); clang-format
// would reflow the string macros.
// clang-format off

// Broadcast of one element of A into zmm `reg`, then its two FMAs into accumulators c0, c1.
#define RNF_ROW(addr, reg, c0, c1)                      \
  "vbroadcastss " addr ", %%zmm" #reg "\n\t"            \
  "vfmadd231ps %%zmm24, %%zmm" #reg ", %%zmm" #c0 "\n\t" \
  "vfmadd231ps %%zmm25, %%zmm" #reg ", %%zmm" #c1 "\n\t"
// The 32 values of B of step s (bo = 128*s bytes into the group).
#define RNF_LOAD_B(bo) \
  "vmovups " #bo "(%[b]), %%zmm24\n\tvmovups " #bo "+64(%[b]), %%zmm25\n\t"

// Plain A, step at byte displacement d: row 4q + j at base a(4q) (a0, a4, a8) with index none,
// l1, 2*l1, l3 = 3*l1 (l1 = rsa * 4 bytes).
#define RNF_STEP_PLAIN(bo, d)                                           \
  RNF_LOAD_B(bo)                                                        \
  RNF_ROW(#d "(%[a0])", 26, 0, 1)                                       \
  RNF_ROW(#d "(%[a0],%[l1],1)", 27, 2, 3)                               \
  RNF_ROW(#d "(%[a0],%[l1],2)", 28, 4, 5)                               \
  RNF_ROW(#d "(%[a0],%[l3],1)", 29, 6, 7)                               \
  RNF_ROW(#d "(%[a4])", 30, 8, 9)                                       \
  RNF_ROW(#d "(%[a4],%[l1],1)", 31, 10, 11)                             \
  RNF_ROW(#d "(%[a4],%[l1],2)", 26, 12, 13)                             \
  RNF_ROW(#d "(%[a4],%[l3],1)", 27, 14, 15)                             \
  RNF_ROW(#d "(%[a8])", 28, 16, 17)                                     \
  RNF_ROW(#d "(%[a8],%[l1],1)", 29, 18, 19)                             \
  RNF_ROW(#d "(%[a8],%[l1],2)", 30, 20, 21)                             \
  RNF_ROW(#d "(%[a8],%[l3],1)", 31, 22, 23)
#define RNF_GROUP_PLAIN                                                 \
  RNF_STEP_PLAIN(0, 0) RNF_STEP_PLAIN(128, 4) RNF_STEP_PLAIN(256, 8)    \
  RNF_STEP_PLAIN(384, 12)                                               \
  "add $16, %[a0]\n\tadd $16, %[a4]\n\tadd $16, %[a8]\n\tadd $512, %[b]\n\t"
#define RNF_ONE_PLAIN \
  RNF_STEP_PLAIN(0, 0) "add $4, %[a0]\n\tadd $4, %[a4]\n\tadd $4, %[a8]\n\tadd $128, %[b]\n\t"

// Transposed A, step s of a group at index IX (none, cs, 2*cs, cs3 = 3*cs; cs = csa * 4
// bytes): row i at displacement 4*i.
#define RNF_STEP_T(bo, IX)                                              \
  RNF_LOAD_B(bo)                                                        \
  RNF_ROW("0(%[a0]" IX ")", 26, 0, 1)                                   \
  RNF_ROW("4(%[a0]" IX ")", 27, 2, 3)                                   \
  RNF_ROW("8(%[a0]" IX ")", 28, 4, 5)                                   \
  RNF_ROW("12(%[a0]" IX ")", 29, 6, 7)                                  \
  RNF_ROW("16(%[a0]" IX ")", 30, 8, 9)                                  \
  RNF_ROW("20(%[a0]" IX ")", 31, 10, 11)                                \
  RNF_ROW("24(%[a0]" IX ")", 26, 12, 13)                                \
  RNF_ROW("28(%[a0]" IX ")", 27, 14, 15)                                \
  RNF_ROW("32(%[a0]" IX ")", 28, 16, 17)                                \
  RNF_ROW("36(%[a0]" IX ")", 29, 18, 19)                                \
  RNF_ROW("40(%[a0]" IX ")", 30, 20, 21)                                \
  RNF_ROW("44(%[a0]" IX ")", 31, 22, 23)
#define RNF_GROUP_T                                                     \
  RNF_STEP_T(0, "") RNF_STEP_T(128, ",%[l1],1") RNF_STEP_T(256, ",%[l1],2") \
  RNF_STEP_T(384, ",%[l3],1")                                           \
  "lea (%[a0],%[l1],4), %[a0]\n\tadd $512, %[b]\n\t"
#define RNF_ONE_T RNF_STEP_T(0, "") "add %[l1], %[a0]\n\tadd $128, %[b]\n\t"

#define RNF_PF4                                                         \
  "prefetcht1 (%[pf])\n\tprefetcht1 64(%[pf])\n\tprefetcht1 128(%[pf])\n\t" \
  "prefetcht1 192(%[pf])\n\tadd $256, %[pf]\n\t"
#define RNF_PF1 "prefetcht1 (%[pf])\n\tadd $64, %[pf]\n\t"
#define RNF_PF2 "prefetcht1 (%[pf])\n\tprefetcht1 64(%[pf])\n\tadd $128, %[pf]\n\t"
#define RNF_PF8                                                         \
  RNF_PF4 "prefetcht1 (%[pf])\n\tprefetcht1 64(%[pf])\n\tprefetcht1 128(%[pf])\n\t" \
  "prefetcht1 192(%[pf])\n\tadd $256, %[pf]\n\t"

#define RNF_ZERO                                                        \
  "vpxord %%zmm0, %%zmm0, %%zmm0\n\t"                                   \
  "vmovaps %%zmm0, %%zmm1\n\tvmovaps %%zmm0, %%zmm2\n\tvmovaps %%zmm0, %%zmm3\n\t" \
  "vmovaps %%zmm0, %%zmm4\n\tvmovaps %%zmm0, %%zmm5\n\tvmovaps %%zmm0, %%zmm6\n\t" \
  "vmovaps %%zmm0, %%zmm7\n\tvmovaps %%zmm0, %%zmm8\n\tvmovaps %%zmm0, %%zmm9\n\t" \
  "vmovaps %%zmm0, %%zmm10\n\tvmovaps %%zmm0, %%zmm11\n\tvmovaps %%zmm0, %%zmm12\n\t" \
  "vmovaps %%zmm0, %%zmm13\n\tvmovaps %%zmm0, %%zmm14\n\tvmovaps %%zmm0, %%zmm15\n\t" \
  "vmovaps %%zmm0, %%zmm16\n\tvmovaps %%zmm0, %%zmm17\n\tvmovaps %%zmm0, %%zmm18\n\t" \
  "vmovaps %%zmm0, %%zmm19\n\tvmovaps %%zmm0, %%zmm20\n\tvmovaps %%zmm0, %%zmm21\n\t" \
  "vmovaps %%zmm0, %%zmm22\n\tvmovaps %%zmm0, %%zmm23\n\t"
#define RNF_STORE                                                       \
  "vmovaps %%zmm0, 0(%[t])\n\tvmovaps %%zmm1, 64(%[t])\n\t"             \
  "vmovaps %%zmm2, 128(%[t])\n\tvmovaps %%zmm3, 192(%[t])\n\t"          \
  "vmovaps %%zmm4, 256(%[t])\n\tvmovaps %%zmm5, 320(%[t])\n\t"          \
  "vmovaps %%zmm6, 384(%[t])\n\tvmovaps %%zmm7, 448(%[t])\n\t"          \
  "vmovaps %%zmm8, 512(%[t])\n\tvmovaps %%zmm9, 576(%[t])\n\t"          \
  "vmovaps %%zmm10, 640(%[t])\n\tvmovaps %%zmm11, 704(%[t])\n\t"        \
  "vmovaps %%zmm12, 768(%[t])\n\tvmovaps %%zmm13, 832(%[t])\n\t"        \
  "vmovaps %%zmm14, 896(%[t])\n\tvmovaps %%zmm15, 960(%[t])\n\t"        \
  "vmovaps %%zmm16, 1024(%[t])\n\tvmovaps %%zmm17, 1088(%[t])\n\t"      \
  "vmovaps %%zmm18, 1152(%[t])\n\tvmovaps %%zmm19, 1216(%[t])\n\t"      \
  "vmovaps %%zmm20, 1280(%[t])\n\tvmovaps %%zmm21, 1344(%[t])\n\t"      \
  "vmovaps %%zmm22, 1408(%[t])\n\tvmovaps %%zmm23, 1472(%[t])\n\t"

// The whole kernel: zero, g1 groups with prefetches (pg = 1, 2, 4 or 8 lines each), the
// other groups, the kc % 4 single steps, store. Numeric local labels, so that copies of the
// statement do not clash.
#define RNF_KERNEL(GROUP, ONE)                                          \
  RNF_ZERO                                                              \
  "test %[g1], %[g1]\n\tjz 3f\n\t"                                      \
  "cmp $2, %[pg]\n\tjb 1f\n\tje 2f\n\t"                                \
  "cmp $4, %[pg]\n\tje 8f\n\tjmp 9f\n\t"                               \
  "1:\n\t" RNF_PF1 GROUP "dec %[g1]\n\tjnz 1b\n\tjmp 3f\n\t"            \
  "2:\n\t" RNF_PF2 GROUP "dec %[g1]\n\tjnz 2b\n\tjmp 3f\n\t"            \
  "8:\n\t" RNF_PF4 GROUP "dec %[g1]\n\tjnz 8b\n\tjmp 3f\n\t"            \
  "9:\n\t" RNF_PF8 GROUP "dec %[g1]\n\tjnz 9b\n\t"                      \
  "3:\n\ttest %[g2], %[g2]\n\tjz 5f\n\t"                                \
  "4:\n\t" GROUP "dec %[g2]\n\tjnz 4b\n\t"                              \
  "5:\n\ttest %[kr], %[kr]\n\tjz 7f\n\t"                                \
  "6:\n\t" ONE "dec %[kr]\n\tjnz 6b\n\t"                                \
  "7:\n\t" RNF_STORE

#define RNF_CLOBBERS                                                                       \
  "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",   \
      "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17",      \
      "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26",     \
      "xmm27", "xmm28", "xmm29", "xmm30", "xmm31"

// tile[12 x 32] = op(A)[12, kc] * Bp[kc, 32] with op(A) plain (csa == 1) or transposed
// (rsa == 1); pf/pf_lines as in SimdKernel::run.
inline void asm_tile_12x32(int64_t kc, const float* A, int64_t rsa, int64_t csa,
                           const float* Bp, float* tile, const float* pf, int64_t pf_lines) {
  const bool plain = csa == 1;
  const int64_t stride = (plain ? rsa : csa) * static_cast<int64_t>(sizeof(float));
  const int64_t l1 = stride, l3 = 3 * stride;
  const int64_t groups = kc / 4;
  int64_t kr = kc % 4;
  int64_t pg = 1;  // lines per group: the fewest of 1, 2, 4, 8 that spread over all groups
  while (pg < 8 && pg * groups < pf_lines) pg *= 2;
  int64_t g1 = pf ? (pf_lines + pg - 1) / pg : 0;
  if (g1 > groups) g1 = groups;
  int64_t g2 = groups - g1;
  const float* b = Bp;
  const char* p = reinterpret_cast<const char*>(pf);
  const float* a0 = A;
  if (plain) {
    const float* a4 = A + 4 * rsa;
    const float* a8 = A + 8 * rsa;
    asm volatile(RNF_KERNEL(RNF_GROUP_PLAIN, RNF_ONE_PLAIN)
                 : [a0] "+r"(a0), [a4] "+r"(a4), [a8] "+r"(a8), [b] "+r"(b), [pf] "+r"(p),
                   [g1] "+r"(g1), [g2] "+r"(g2), [kr] "+r"(kr)
                 : [l1] "r"(l1), [l3] "r"(l3), [pg] "r"(pg), [t] "r"(tile)
                 : RNF_CLOBBERS);
  } else {
    asm volatile(RNF_KERNEL(RNF_GROUP_T, RNF_ONE_T)
                 : [a0] "+r"(a0), [b] "+r"(b), [pf] "+r"(p), [g1] "+r"(g1), [g2] "+r"(g2),
                   [kr] "+r"(kr)
                 : [l1] "r"(l1), [l3] "r"(l3), [pg] "r"(pg), [t] "r"(tile)
                 : RNF_CLOBBERS);
  }
}

#undef RNF_ROW
#undef RNF_LOAD_B
#undef RNF_STEP_PLAIN
#undef RNF_GROUP_PLAIN
#undef RNF_ONE_PLAIN
#undef RNF_STEP_T
#undef RNF_GROUP_T
#undef RNF_ONE_T
#undef RNF_PF1
#undef RNF_PF2
#undef RNF_PF4
#undef RNF_PF8
#undef RNF_ZERO
#undef RNF_STORE
#undef RNF_KERNEL
#undef RNF_CLOBBERS
// clang-format on
#endif
