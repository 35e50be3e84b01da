// Per-thread scratch memory that outlives a call. On virtual machines first-touching freshly
// allocated pages is slow (docs/ARCHITECTURE.md, "Memory"), so the kernels keep their work buffers
// and packed weights between calls: each slot grows to the largest size its thread has needed and
// is reused after that (freed at thread exit). Each OS thread (a Python thread calling in, or an
// OpenMP worker) has its own, so concurrent calls share nothing mutable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>

#include "gemm/gemm.h"

namespace rnnfast {
namespace detail {

enum Slot : int {
  // calling thread, forward
  kP,
  kBias,
  kH,
  kHm,
  kC,
  kM,
  kXp,
  kRh,
  // calling thread, backward
  kDR,
  kDr,
  kDh,
  kDc,
  kDRs,
  kDhd,
  kDm,
  kMproj,
  kRows,
  kScaleRows,
  kDxp,
  kBiasSums,
  // team threads
  kR,
  kRn,
  kRp,
  kDhp,
  kCols,
  kBiasT,
  kPt,
  kGt,
  kDhn,
  kNormParts,  // kRowNorm: the row statistics' partials of every slot (shared by the team)
  kNormPartsC,
  kNormScratch,
  kDA,  // kRowNorm, backward: the pre-activations' gradient [rows, G*H]
  kDZ,  // kRowNorm, backward: the gradient of LN(c) * gamma_c + beta_c [rows, H]
  kDV,  // kRowNorm without a cell state, backward: the recurrent side's gradient [rows, G*H]
  // any thread: blocks of A packed by the GEMM drivers (gemm.cc)
  kApack,
  kZo,  // team threads, zoneout: forward c_{t-1} of the thread's units, backward the kept d * dh, d
        // * dc
  kNumSlots
};
enum PackSlot : int { kPackGemm, kPackWh, kPackWx, kPackWn, kPackWr, kNumPackSlots };

class Workspace {
 public:
  // n elements of T in slot s (uninitialized, or zeroed when zero = true), 64-byte aligned.
  template <typename T>
  T* get(Slot s, size_t n, bool zero = false) {
    const size_t bytes = n * sizeof(T) + 64;
    Buf& b = bufs_[s];
    if (b.size < bytes) {
      b.data.reset();  // release first: the old and new buffers never coexist
      b.size = 0;      // and if the new one cannot be had, none is recorded
      b.data.reset(new char[bytes]);
      b.size = bytes;
    }
    void* p = b.data.get();
    size_t space = b.size;
    T* aligned = static_cast<T*>(std::align(64, n * sizeof(T), p, space));
    if (zero && n) std::memset(static_cast<void*>(aligned), 0, n * sizeof(T));
    return aligned;
  }
  template <typename T>
  gemm::PackedB<T>& packed(PackSlot s);

 private:
  struct Buf {
    std::unique_ptr<char[]> data;
    size_t size = 0;
  };
  Buf bufs_[kNumSlots];
  gemm::PackedB<float> packs_f_[kNumPackSlots];
  gemm::PackedB<double> packs_d_[kNumPackSlots];
};

template <>
inline gemm::PackedB<float>& Workspace::packed<float>(PackSlot s) {
  return packs_f_[s];
}
template <>
inline gemm::PackedB<double>& Workspace::packed<double>(PackSlot s) {
  return packs_d_[s];
}

inline Workspace& thread_workspace() {
  static thread_local Workspace ws;
  return ws;
}

}  // namespace detail
}  // namespace rnnfast
