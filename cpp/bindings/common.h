// Shared binding machinery: argument validation and conversion, the saved-activations and
// packed-weights objects, and the generic forward/backward/step/pack calls that each cell's
// binding file exposes under its own names. No math here: that is the core's.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../core/core.h"

namespace rnnkit {
namespace py = pybind11;

// The Python-facing family of a call: which *_forward / *_backward / *_step names it uses.
enum class Family { Rnn, Lstm, Gru };

Family family_of(Cell cell);
const char* family_name(Family f);  // "rnn", "lstm", "gru"

// A block of saved activations. Blocks of the cache's minimum size and more (32 MB: glibc maps
// every block that large afresh, and the forward pass then faulted it in 4 KB at a time) go back
// to a small process-wide cache when freed, and the next training forward that needs a block of
// about that size takes one from it. Touched only with the GIL held: Saved objects are made
// before forward releases the GIL and freed by Python.
struct ActivationFree {
  size_t n = 0;  // floats
  void operator()(float* p) const;
};
using ActivationBlock = std::unique_ptr<float[], ActivationFree>;
// n floats, uninitialised; throws std::bad_alloc (MemoryError).
ActivationBlock take_activation_block(size_t n);
// Cache at most max_bytes of freed blocks of min_bytes and more; max_bytes = 0 empties and
// disables it (the default until rnnkit/_malloc.py turns it on).
void set_activation_cache(int64_t max_bytes, int64_t min_bytes);
py::tuple activation_cache_info();  // (blocks, bytes) held now

// What backward needs, owned (DESIGN §3: the caller may change its arrays meanwhile).
struct Saved {
  Cell cell = Cell::Lstm;
  int64_t T = 0, B = 0, I = 0, H = 0;
  bool reverse = false, has_b_ih = false, has_b_hh = false;
  ActivationBlock x, w_ih, w_hh;  // copied by forward's threads (ForwardArgs::x_copy)
  std::vector<int64_t> lengths;   // empty: none
  std::vector<uint8_t> mask;      // empty: none
  ActivationBlock gates, hs, cs;
  int64_t nbytes() const;
};

// Floats that every step streams (packed weights). Buffers of 4 MB and more are aligned to
// 2 MB and offered to transparent huge pages: Linux's default THP mode ("madvise") only gives
// them to memory marked so, and on 4 KB pages reading all of W_hh each step walks thousands of
// TLB entries. Throws std::bad_alloc (MemoryError) when the allocation fails.
class StreamedFloats {
 public:
  StreamedFloats() = default;
  explicit StreamedFloats(int64_t n);
  ~StreamedFloats();
  StreamedFloats(const StreamedFloats&) = delete;
  StreamedFloats& operator=(const StreamedFloats&) = delete;
  float* data() const { return p_; }
  int64_t size() const { return n_; }

 private:
  float* p_ = nullptr;
  int64_t n_ = 0;
};

// Weights packed once (DESIGN §3 step kernels) for the ISA current at packing time.
struct Packed {
  PackedLayout layout;
  Isa isa = Isa::Scalar;
  std::unique_ptr<StreamedFloats> data;
};

struct ForwardOptions {
  py::handle lengths, mask, reverse, training;
};

py::tuple forward(Cell cell, const char* op, py::handle x, py::handle h0, py::handle c0,
                  py::handle w_ih, py::handle w_hh, py::handle b_ih, py::handle b_hh,
                  const ForwardOptions& opt);
py::dict backward(Family family, const char* op, py::handle dy, py::handle dh_n,
                  py::handle dc_n, py::handle saved, py::handle return_dh_seq);
std::shared_ptr<Packed> pack(Cell cell, const char* op, py::handle w_ih, py::handle w_hh,
                             py::handle b_ih, py::handle b_hh);
// Returns h_new, or (h_new, c_new) for LSTM.
py::object step(Family family, const char* op, py::handle x, py::handle h, py::handle c,
                py::handle weights, py::handle out);

// A float32 array in native byte order. Compares dtypes by equivalence: an array that went
// through pickle (to a Dask worker, a joblib process) carries an equal float32 dtype that is
// not the same object as NumPy's.
inline bool is_float32(py::handle h) { return py::isinstance<py::array_t<float>>(h); }

// A bool argument (Python bool or numpy.bool_); anything else is a TypeError naming it.
bool flag(py::handle value, const char* op, const char* name);
Cell rnn_cell(py::handle activation, const char* op);
Cell gru_cell(py::handle reset_after, const char* op);

void init_runtime(py::module_& m);
void init_rnn(py::module_& m);
void init_lstm(py::module_& m);
void init_gru(py::module_& m);
void init_training(py::module_& m);

}  // namespace rnnkit
