// Output arrays of the Python module (module.cc, ops_bind.cc): allocation from a process-wide
// cache of freed buffers, shared by every binding so that a training step's outputs of all op
// families reuse one another's memory. Python headers only; no numerical code.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <sstream>
#include <vector>

namespace rnnfast {
namespace python {

namespace py = pybind11;

// Output arrays of 1 MiB and more come from a process-wide cache of the buffers of freed
// outputs (a training step's reserve, y, dx and weight gradients have the same sizes every
// step). On virtual machines every page of fresh memory costs a page fault at first touch,
// a large share of a training step (docs/ARCHITECTURE.md, "Memory"); from the cache a step
// makes none. Bounded: at most kCacheBytes are
// kept (the rest is freed at once); buffers are reused only within 1.25x of the size asked.
class BufferCache {
 public:
  static constexpr size_t kMinBytes = size_t(1) << 20;
  static constexpr size_t kCacheBytes = size_t(1) << 30;

  static BufferCache& instance() {
    static BufferCache* c = new BufferCache();  // never destroyed: capsules may outlive exit
    return *c;
  }
  // A 64-byte aligned buffer of at least `bytes`; its capacity in *cap.
  void* take(size_t bytes, size_t* cap) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.lower_bound(bytes);
      if (it != free_.end() && it->first <= bytes + bytes / 4) {
        *cap = it->first;
        void* p = it->second;
        cached_ -= it->first;
        free_.erase(it);
        return p;
      }
    }
    *cap = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, *cap);
    if (!p) throw std::bad_alloc();
    return p;
  }
  void give(void* p, size_t cap) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (cached_ + cap <= kCacheBytes) {
        free_.emplace(cap, p);
        cached_ += cap;
        return;
      }
    }
    std::free(p);
  }
  size_t cached_bytes() {
    std::lock_guard<std::mutex> lock(mu_);
    return cached_;
  }
  void clear() {
    std::multimap<size_t, void*> drop;
    {
      std::lock_guard<std::mutex> lock(mu_);
      drop.swap(free_);
      cached_ = 0;
    }
    for (auto& e : drop) std::free(e.second);
  }

 private:
  std::mutex mu_;
  std::multimap<size_t, void*> free_;
  size_t cached_ = 0;
};

struct CachedBuffer {
  void* p;
  size_t cap;
};

// A new C-contiguous output array (uninitialized; zeroed when zero = true).
template <typename T>
inline py::array_t<T> output(std::vector<py::ssize_t> shape, bool zero = false) {
  size_t n = 1;
  for (auto e : shape) n *= static_cast<size_t>(e);
  const size_t bytes = n * sizeof(T);
  if (bytes < BufferCache::kMinBytes) {
    py::array_t<T> a(shape);
    if (zero) std::fill_n(a.mutable_data(), a.size(), T(0));
    return a;
  }
  size_t cap = 0;
  void* p = nullptr;
  try {
    p = BufferCache::instance().take(bytes, &cap);
  } catch (const std::bad_alloc&) {
    std::ostringstream os;
    os << "cannot allocate an output array of shape (";
    for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
    os << (shape.size() == 1 ? ",)" : ")") << " and dtype "
       << (sizeof(T) == 4 ? "float32" : "float64") << " (" << bytes << " bytes)";
    PyErr_SetString(PyExc_MemoryError, os.str().c_str());
    throw py::error_already_set();
  }
  std::unique_ptr<CachedBuffer> owner;
  py::capsule base;
  try {
    owner.reset(new CachedBuffer{p, cap});
    base = py::capsule(owner.get(), [](void* o) {
      auto* b = static_cast<CachedBuffer*>(o);
      BufferCache::instance().give(b->p, b->cap);
      delete b;
    });
  } catch (...) {
    BufferCache::instance().give(p, cap);
    throw;
  }
  owner.release();  // the capsule owns it now
  py::array_t<T> a(shape, static_cast<T*>(p), base);
  if (zero) std::memset(p, 0, bytes);
  return a;
}

}  // namespace python
}  // namespace rnnfast
