// The one file that decides which instruction set the GEMM kernels use: the newest one the
// CPU and the operating system support (AVX-512 needs the OS to save the zmm/opmask state,
// AVX2 the ymm state: checked with XGETBV), unless RNNFAST_ISA=portable|avx2|avx512 asks for
// another available one. set_isa() switches for tests. Never -march=native anywhere.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "cells/pointwise_table.h"
#include "gemm/kernels.h"
#include "rnnfast/rnnfast.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#define RNNFAST_X86 1
#endif

namespace rnnfast {
namespace gemm {
namespace {

#ifdef RNNFAST_X86
uint64_t xgetbv0() {
  uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}

struct Features {
  bool avx2 = false, avx512 = false;
};

Features detect() {
  Features f;
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = c & (1u << 27), fma = c & (1u << 12), avx = c & (1u << 28);
  if (!osxsave || !avx) return f;
  const uint64_t xcr0 = xgetbv0();
  const bool os_ymm = (xcr0 & 0x6) == 0x6;    // SSE and AVX state
  const bool os_zmm = (xcr0 & 0xe6) == 0xe6;  // + opmask, ZMM_Hi256, Hi16_ZMM
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return f;
  const bool avx2 = b & (1u << 5), avx512f = b & (1u << 16);
  f.avx2 = os_ymm && avx2 && fma;
  f.avx512 = f.avx2 && os_zmm && avx512f;
  return f;
}
#endif

std::vector<const Kernels*> available() {
  std::vector<const Kernels*> v;  // newest first
#ifdef RNNFAST_X86
  const Features f = detect();
  if (f.avx512 && avx512_kernels()) v.push_back(avx512_kernels());
  if (f.avx2 && avx2_kernels()) v.push_back(avx2_kernels());
#endif
  v.push_back(&portable_kernels());
  return v;
}

const Kernels* initial() {
  const auto avail = available();
  const char* env = std::getenv("RNNFAST_ISA");
  if (env && *env) {
    for (const Kernels* k : avail)
      if (std::strcmp(k->name, env) == 0) return k;
    std::fprintf(stderr, "rnnfast: RNNFAST_ISA=%s is not available on this CPU; using %s\n", env,
                 avail.front()->name);
  }
  return avail.front();
}

std::atomic<const Kernels*>& current() {
  static std::atomic<const Kernels*> k{initial()};
  return k;
}

}  // namespace

const Kernels& active_kernels() { return *current().load(std::memory_order_acquire); }

}  // namespace gemm

namespace detail {

// The elementwise passes follow the GEMM's instruction set.
const Pointwise& active_pointwise() {
  const char* name = gemm::active_kernels().name;
  if (std::strcmp(name, "avx512") == 0 && pointwise_avx512()) return *pointwise_avx512();
  if (std::strcmp(name, "avx2") == 0 && pointwise_avx2()) return *pointwise_avx2();
  return pointwise_portable();
}

}  // namespace detail

const char* isa() { return gemm::active_kernels().name; }

std::vector<std::string> available_isas() {
  std::vector<std::string> names;
  for (const gemm::Kernels* k : gemm::available()) names.emplace_back(k->name);
  return names;
}

void set_isa(const std::string& name) {
  for (const gemm::Kernels* k : gemm::available()) {
    if (name == k->name) {
      gemm::current().store(k, std::memory_order_release);
      return;
    }
  }
  std::string avail;
  for (const auto& n : available_isas()) avail += (avail.empty() ? "" : ", ") + n;
  throw std::invalid_argument("isa: expected one of the available instruction sets (" + avail +
                              "), got '" + name + "'");
}

}  // namespace rnnfast

#ifdef RNNFAST_NO_X86_KERNELS
namespace rnnfast {
namespace gemm {
const Kernels* avx2_kernels() { return nullptr; }
const Kernels* avx512_kernels() { return nullptr; }
}  // namespace gemm
namespace detail {
const Pointwise* pointwise_avx2() { return nullptr; }
const Pointwise* pointwise_avx512() { return nullptr; }
}  // namespace detail
}  // namespace rnnfast
#endif
