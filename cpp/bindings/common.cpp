// Validation, conversion and the generic calls behind every cell's binding.
//
// Order of work in each call: look at every argument (np.asarray, no copy for arrays) and check
// dtypes and shapes; check the sizes of everything the call will allocate against the machine
// (MemoryError before any allocation); convert each array once to C-contiguous float32; release
// the GIL and run the core.
#include "common.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <sstream>
#include <stdexcept>

namespace rnnkit {
namespace {

std::string shape_str(const py::array& a) {
  std::ostringstream s;
  s << "(";
  for (py::ssize_t d = 0; d < a.ndim(); ++d) s << (d ? ", " : "") << a.shape(d);
  s << (a.ndim() == 1 ? ",)" : ")");
  return s.str();
}

std::string tuple_str(std::initializer_list<int64_t> dims) {
  std::ostringstream s;
  s << "(";
  int i = 0;
  for (int64_t d : dims) s << (i++ ? ", " : "") << d;
  s << (dims.size() == 1 ? ",)" : ")");
  return s.str();
}

[[noreturn]] void value_error(const char* op, const std::string& msg) {
  throw py::value_error(std::string("[") + op + "] " + msg);
}
[[noreturn]] void type_error(const char* op, const std::string& msg) {
  throw py::type_error(std::string("[") + op + "] " + msg);
}
[[noreturn]] void memory_error(const char* op, const std::string& msg) {
  PyErr_SetString(PyExc_MemoryError, (std::string("[") + op + "] " + msg).c_str());
  throw py::error_already_set();
}

std::string type_name(py::handle obj) {
  return py::str(py::type::handle_of(obj).attr("__name__")).cast<std::string>();
}

// numpy, imported once. Deliberately leaked: no destructor may run after the interpreter ends.
const py::module_& numpy() {
  static const py::module_* np = new py::module_(py::module_::import("numpy"));
  return *np;
}

// Any array-like of real numbers, without copying arrays. None → TypeError.
py::array as_array(py::handle obj, const char* op, const char* name) {
  if (obj.is_none()) type_error(op, std::string(name) + " is None, expected an array");
  py::array arr;
  try {
    arr = py::isinstance<py::array>(obj) ? py::reinterpret_borrow<py::array>(obj)
                                         : py::array(numpy().attr("asarray")(obj));
  } catch (py::error_already_set& e) {
    value_error(op, std::string(name) + " could not be read as an array: " + e.what());
  }
  const char kind = arr.dtype().kind();
  if (kind != 'f' && kind != 'i' && kind != 'u') {
    type_error(op, std::string(name) + " has dtype " + py::str(arr.dtype()).cast<std::string>() +
                       ", expected real numbers (a float or integer array)");
  }
  return arr;
}

std::optional<py::array> as_optional(py::handle obj, const char* op, const char* name) {
  if (obj.is_none()) return std::nullopt;
  return as_array(obj, op, name);
}

void expect_shape(const py::array& a, std::initializer_list<int64_t> dims, const char* op,
                  const char* name, const char* formula) {
  bool ok = a.ndim() == static_cast<py::ssize_t>(dims.size());
  int d = 0;
  for (int64_t want : dims) {
    if (ok && a.shape(d) != want) ok = false;
    ++d;
  }
  if (!ok) {
    value_error(op, std::string(name) + " has shape " + shape_str(a) + ", expected " + formula +
                        " = " + tuple_str(dims));
  }
}

py::array_t<float> to_f32(const py::array& a) {
  auto out = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(a);
  if (!out) throw py::error_already_set();
  return out;
}

const float* ptr_or_null(const std::optional<py::array_t<float>>& a) {
  return a ? a->data() : nullptr;
}

std::optional<py::array_t<float>> to_f32(const std::optional<py::array>& a) {
  if (!a) return std::nullopt;
  return to_f32(*a);
}

py::array_t<float> new_array(std::initializer_list<int64_t> dims, bool zero) {
  std::vector<py::ssize_t> shape(dims.begin(), dims.end());
  py::array_t<float> out(shape);
  if (zero && out.size() > 0) std::memset(out.mutable_data(), 0, sizeof(float) * out.size());
  return out;
}

// The machine's memory in bytes (0 if unknown), read once: sysconf(_SC_PHYS_PAGES) is a
// sysinfo system call, which was 5% of a batch-1 step at the toy size.
double physical_bytes() {
  static const double bytes = [] {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && page > 0 ? static_cast<double>(pages) * static_cast<double>(page) : 0.0;
  }();
  return bytes;
}

// Overflow-safe size accounting: everything a call allocates, checked against the machine's
// memory before anything is allocated.
class SizeBudget {
 public:
  explicit SizeBudget(const char* op) : op_(op) {}
  // Adds the product of dims (floats).
  void add(std::initializer_list<int64_t> dims) {
    int64_t n = 1;
    for (int64_t d : dims) {
      if (__builtin_mul_overflow(n, d, &n)) overflow_ = true;
    }
    if (__builtin_add_overflow(floats_, n, &floats_)) overflow_ = true;
  }
  void check() const {
    const double machine = physical_bytes();
    const double need = static_cast<double>(floats_) * sizeof(float);
    if (overflow_ || (machine > 0 && need > machine)) {
      std::ostringstream s;
      s << "cannot allocate the buffers this call needs (";
      if (overflow_) {
        s << "the size overflows 64 bits";
      } else {
        s << need / (1 << 30) << " GiB, more than this machine's " << machine / (1 << 30)
          << " GiB";
      }
      s << ")";
      memory_error(op_, s.str());
    }
  }

 private:
  const char* op_;
  int64_t floats_ = 0;
  bool overflow_ = false;
};

struct Lengths {
  std::vector<int64_t> lengths;
  std::vector<uint8_t> mask;
};

Lengths read_lengths_and_mask(const char* op, py::handle lengths, py::handle mask, int64_t T,
                              int64_t B) {
  Lengths out;
  if (!lengths.is_none() && !mask.is_none()) {
    value_error(op, "give lengths or mask, not both");
  }
  const py::module_& np = numpy();
  if (!lengths.is_none()) {
    py::array arr = np.attr("asarray")(lengths);
    const char kind = arr.dtype().kind();
    const bool empty_list = arr.size() == 0 && kind == 'f';  // np.asarray([]) is float64
    if (kind != 'i' && kind != 'u' && !empty_list) {
      type_error(op, "lengths has dtype " + py::str(arr.dtype()).cast<std::string>() +
                         ", expected integers");
    }
    if (arr.ndim() != 1 || arr.shape(0) != B) {
      value_error(op, "lengths has shape " + shape_str(arr) + ", expected (B,) = " +
                          tuple_str({B}));
    }
    auto l64 = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(arr);
    if (!l64) throw py::error_already_set();
    out.lengths.assign(l64.data(), l64.data() + B);
    for (int64_t b = 0; b < B; ++b) {
      if (out.lengths[b] < 0 || out.lengths[b] > T) {
        std::ostringstream s;
        s << "lengths[" << b << "] = " << out.lengths[b] << " is out of range, expected 0 <= "
          << "lengths <= T = " << T;
        value_error(op, s.str());
      }
    }
  }
  if (!mask.is_none()) {
    py::array arr = np.attr("asarray")(mask);
    const char kind = arr.dtype().kind();
    const bool empty_list = arr.size() == 0 && kind == 'f';
    if (kind != 'b' && kind != 'i' && kind != 'u' && !empty_list) {
      type_error(op, "mask has dtype " + py::str(arr.dtype()).cast<std::string>() +
                         ", expected bool");
    }
    expect_shape(arr, {T, B}, op, "mask", "(T, B)");
    if ((kind == 'i' || kind == 'u') &&
        !np.attr("isin")(arr, py::make_tuple(0, 1)).attr("all")().cast<bool>()) {
      value_error(op, "mask holds integers other than 0 and 1, expected a bool mask");
    }
    py::array as_bool = np.attr("not_equal")(arr, 0);
    auto m8 = py::array_t<uint8_t, py::array::c_style | py::array::forcecast>::ensure(as_bool);
    if (!m8) throw py::error_already_set();
    out.mask.assign(m8.data(), m8.data() + T * B);
  }
  return out;
}

// The packed weights of one forward call. For inference each calling thread keeps the largest
// buffer it has used: weights of 32 MB and more (an LSTM at H = 1024) are past glibc's largest
// mmap threshold, and a fresh buffer would be mapped, faulted in page by page and unmapped
// again on every call (a third of an LSTM forward at (25, 16, 1024, 1024), with the TLB misses
// of 4 KB pages). The cost is one packed copy of the largest weights per calling thread.
// Training packs into a buffer of its own, freed on return: backward does not need it, and
// keeping it would add the weights' size to a training step's peak. So does a call made while
// the thread's kept buffer is in use: poll_signals runs Python signal handlers between steps,
// on this thread, and a handler may run a forward of its own.
thread_local std::unique_ptr<StreamedFloats> kept_packed;
thread_local bool kept_packed_busy = false;

class PackedBuffer {
 public:
  PackedBuffer(int64_t n, bool keep) {
    if (keep && !kept_packed_busy) {
      if (!kept_packed || kept_packed->size() < n) {
        kept_packed.reset();  // a failed allocation (MemoryError) leaves no buffer behind
        kept_packed = std::make_unique<StreamedFloats>(n);
      }
      kept_packed_busy = true;
      holds_kept_ = true;
      data_ = kept_packed->data();
    } else {
      own_ = std::make_unique<StreamedFloats>(n);
      data_ = own_->data();
    }
  }
  ~PackedBuffer() {
    if (holds_kept_) kept_packed_busy = false;
  }
  PackedBuffer(const PackedBuffer&) = delete;
  PackedBuffer& operator=(const PackedBuffer&) = delete;
  float* data() const { return data_; }

 private:
  std::unique_ptr<StreamedFloats> own_;
  bool holds_kept_ = false;
  float* data_ = nullptr;
};

bool poll_signals(void*) {
  py::gil_scoped_acquire gil;
  return PyErr_CheckSignals() != 0;
}

// Raises for a status other than Ok, with the GIL held.
void raise_status(Status status, const char* op) {
  if (status == Status::Cancelled) {  // poll_signals left the signal's exception set
    if (!PyErr_Occurred()) PyErr_SetString(PyExc_KeyboardInterrupt, op);
    throw py::error_already_set();
  }
  if (status == Status::OutOfMemory) memory_error(op, "out of memory while running the kernel");
}

const char* formula_w(Family f, bool hh) {
  switch (f) {
    case Family::Lstm: return hh ? "(4*H, H)" : "(4*H, I)";
    case Family::Gru: return hh ? "(3*H, H)" : "(3*H, I)";
    default: return hh ? "(H, H)" : "(H, I)";
  }
}
const char* formula_b(Family f) {
  switch (f) {
    case Family::Lstm: return "(4*H,)";
    case Family::Gru: return "(3*H,)";
    default: return "(H,)";
  }
}

// Reads w_ih, w_hh and the biases; H from w_hh (its rows / G when they divide, else columns).
struct Weights {
  py::array w_ih, w_hh;
  std::optional<py::array> b_ih, b_hh;
  int64_t I = 0, H = 0;
};

Weights read_weights(Cell cell, const char* op, py::handle w_ih, py::handle w_hh,
                     py::handle b_ih, py::handle b_hh, int64_t I_known) {
  const Family f = family_of(cell);
  const int64_t G = gates_of(cell);
  Weights w;
  w.w_hh = as_array(w_hh, op, "w_hh");
  if (w.w_hh.ndim() != 2) {
    value_error(op, "w_hh has shape " + shape_str(w.w_hh) + ", expected 2 dimensions " +
                        formula_w(f, true));
  }
  w.H = w.w_hh.shape(0) % G == 0 ? w.w_hh.shape(0) / G : w.w_hh.shape(1);
  expect_shape(w.w_hh, {G * w.H, w.H}, op, "w_hh", formula_w(f, true));
  w.w_ih = as_array(w_ih, op, "w_ih");
  if (w.w_ih.ndim() != 2) {
    value_error(op, "w_ih has shape " + shape_str(w.w_ih) + ", expected 2 dimensions " +
                        formula_w(f, false));
  }
  w.I = I_known >= 0 ? I_known : w.w_ih.shape(1);
  expect_shape(w.w_ih, {G * w.H, w.I}, op, "w_ih", formula_w(f, false));
  w.b_ih = as_optional(b_ih, op, "b_ih");
  if (w.b_ih) expect_shape(*w.b_ih, {G * w.H}, op, "b_ih", formula_b(f));
  w.b_hh = as_optional(b_hh, op, "b_hh");
  if (w.b_hh) expect_shape(*w.b_hh, {G * w.H}, op, "b_hh", formula_b(f));
  return w;
}

// The family's saved object must come from the same family's forward.
Saved& saved_of(py::handle obj, Family family, const char* op) {
  const std::string want = std::string("rnnkit.ops.") + family_name(family) + "_forward";
  if (!py::isinstance<Saved>(obj)) {
    type_error(op, "saved must be the object " + want +
                       "(..., training=True) returned, got " + type_name(obj));
  }
  Saved& s = obj.cast<Saved&>();
  if (family_of(s.cell) != family) {
    type_error(op, std::string("saved comes from rnnkit.ops.") + family_name(family_of(s.cell)) +
                       "_forward, expected one from " + want + "(..., training=True)");
  }
  return s;
}

// An out= array: float32, C-contiguous, writeable, shape (B, H).
py::array_t<float> out_array(py::handle obj, const char* op, const char* name, int64_t B,
                             int64_t H) {
  if (!py::isinstance<py::array>(obj)) {
    type_error(op, std::string(name) + " must be a numpy float32 array, got " + type_name(obj));
  }
  py::array arr = py::reinterpret_borrow<py::array>(obj);
  if (!is_float32(arr)) {
    type_error(op, std::string(name) + " has dtype " + py::str(arr.dtype()).cast<std::string>() +
                       ", expected float32");
  }
  if (!(arr.flags() & py::array::c_style)) {
    value_error(op, std::string(name) + " must be C-contiguous");
  }
  if (!arr.writeable()) value_error(op, std::string(name) + " is read-only");
  expect_shape(arr, {B, H}, op, name, "(B, H)");
  return py::reinterpret_borrow<py::array_t<float>>(obj);
}

bool overlaps(const float* a, int64_t na, const float* b, int64_t nb) {
  if (a == nullptr || b == nullptr || na == 0 || nb == 0) return false;
  return a < b + nb && b < a + na;
}

}  // namespace

Family family_of(Cell cell) {
  switch (cell) {
    case Cell::Lstm: return Family::Lstm;
    case Cell::Gru:
    case Cell::GruResetBefore: return Family::Gru;
    default: return Family::Rnn;
  }
}

const char* family_name(Family f) {
  switch (f) {
    case Family::Lstm: return "lstm";
    case Family::Gru: return "gru";
    default: return "rnn";
  }
}

int64_t Saved::nbytes() const {
  // The blocks' own sizes: one reused from the activation cache may be up to 5/4 of the request.
  auto floats = [](const ActivationBlock& b) {
    return b ? static_cast<int64_t>(b.get_deleter().n) : int64_t(0);
  };
  const int64_t blocks = floats(x) + floats(w_ih) + floats(w_hh) + floats(gates) + floats(hs) +
                         floats(cs);
  return static_cast<int64_t>(sizeof(float)) * blocks +
         static_cast<int64_t>(sizeof(int64_t) * lengths.size() + mask.size());
}

bool flag(py::handle value, const char* op, const char* name) {
  if (py::isinstance<py::bool_>(value)) return value.cast<bool>();
  if (py::isinstance(value, numpy().attr("bool_"))) {
    return value.attr("__bool__")().cast<bool>();
  }
  type_error(op, std::string(name) + " must be a bool, got " + type_name(value));
}

Cell rnn_cell(py::handle activation, const char* op) {
  if (!py::isinstance<py::str>(activation)) {
    type_error(op, "activation must be a string ('tanh' or 'relu'), got " + type_name(activation));
  }
  const std::string name = activation.cast<std::string>();
  if (name == "tanh") return Cell::RnnTanh;
  if (name == "relu") return Cell::RnnRelu;
  value_error(op, "activation is '" + name + "', expected one of 'tanh', 'relu'");
}

Cell gru_cell(py::handle reset_after, const char* op) {
  return flag(reset_after, op, "reset_after") ? Cell::Gru : Cell::GruResetBefore;
}

py::tuple forward(Cell cell, const char* op, py::handle x, py::handle h0, py::handle c0,
                  py::handle w_ih, py::handle w_hh, py::handle b_ih, py::handle b_hh,
                  const ForwardOptions& opt) {
  const bool lstm = cell == Cell::Lstm;
  const bool reverse = flag(opt.reverse, op, "reverse");
  const bool training = flag(opt.training, op, "training");
  py::array ax = as_array(x, op, "x");
  if (ax.ndim() != 3) {
    value_error(op, "x has shape " + shape_str(ax) + ", expected 3 dimensions (T, B, I)");
  }
  const int64_t T = ax.shape(0), B = ax.shape(1), I = ax.shape(2);
  Weights w = read_weights(cell, op, w_ih, w_hh, b_ih, b_hh, I);
  const int64_t H = w.H, G = gates_of(cell);
  auto ah0 = as_optional(h0, op, "h0");
  if (ah0) expect_shape(*ah0, {B, H}, op, "h0", "(B, H)");
  std::optional<py::array> ac0;
  if (lstm) {
    ac0 = as_optional(c0, op, "c0");
    if (ac0) expect_shape(*ac0, {B, H}, op, "c0", "(B, H)");
  }
  Lengths lm = read_lengths_and_mask(op, opt.lengths, opt.mask, T, B);

  const Kernels& k = kernels();
  const PackedLayout layout = make_layout(cell, I, H, k.panel_width);
  SizeBudget budget(op);
  budget.add({T, B, I});                                   // converted x
  budget.add({T, B, H});                                   // y
  budget.add({4, B, H});                                   // states in and out
  budget.add({layout.total});                              // packed weights
  budget.add({int64_t(1) << 20});                          // input-projection chunk
  if (training) {
    budget.add({T, B, I});                                 // saved copy of x
    budget.add({T, B, saved_gate_cols(cell) * H});
    budget.add({T + 1, B, lstm ? 2 * H : H});
    budget.add({2 * G * H, I + H});
  }
  budget.check();

  py::array_t<float> fx = to_f32(ax), fw_ih = to_f32(w.w_ih), fw_hh = to_f32(w.w_hh);
  auto fb_ih = to_f32(w.b_ih), fb_hh = to_f32(w.b_hh), fh0 = to_f32(ah0), fc0 = to_f32(ac0);
  py::array_t<float> y = new_array({T, B, H}, false), h_n = new_array({B, H}, false);
  py::array_t<float> c_n = lstm ? new_array({B, H}, false) : py::array_t<float>();
  // Filled by forward itself, each thread its own unit blocks: no zeroing pass here.
  const PackedBuffer packed_buffer(layout.total, !training);
  float* packed = packed_buffer.data();

  std::unique_ptr<Saved> saved;
  if (training) {
    saved = std::make_unique<Saved>();
    saved->cell = cell;
    saved->T = T;
    saved->B = B;
    saved->I = I;
    saved->H = H;
    saved->reverse = reverse;
    saved->has_b_ih = w.b_ih.has_value();
    saved->has_b_hh = w.b_hh.has_value();
    saved->x = take_activation_block(static_cast<size_t>(fx.size() + 1));
    saved->w_ih = take_activation_block(static_cast<size_t>(fw_ih.size() + 1));
    saved->w_hh = take_activation_block(static_cast<size_t>(fw_hh.size() + 1));
    saved->lengths = lm.lengths;
    saved->mask = lm.mask;
    saved->gates = take_activation_block(static_cast<size_t>(T * B * saved_gate_cols(cell) * H + 1));
    saved->hs = take_activation_block(static_cast<size_t>((T + 1) * B * H));
    if (lstm) saved->cs = take_activation_block(static_cast<size_t>((T + 1) * B * H));
  }

  ForwardArgs a;
  a.cell = cell;
  a.T = T;
  a.B = B;
  a.I = I;
  a.H = H;
  a.x = fx.data();
  a.h0 = ptr_or_null(fh0);
  a.c0 = ptr_or_null(fc0);
  a.lengths = lm.lengths.empty() ? nullptr : lm.lengths.data();
  a.mask = lm.mask.empty() ? nullptr : lm.mask.data();
  a.reverse = reverse;
  a.y = y.mutable_data();
  a.h_n = h_n.mutable_data();
  a.c_n = lstm ? c_n.mutable_data() : nullptr;
  if (saved) {
    a.gates = saved_gate_cols(cell) ? saved->gates.get() : nullptr;
    a.hs = saved->hs.get();
    a.cs = saved->cs.get();
    a.x_copy = saved->x.get();
    a.w_ih_copy = saved->w_ih.get();
    a.w_hh_copy = saved->w_hh.get();
  }
  a.pack_into = packed;
  a.w_ih = fw_ih.data();
  a.w_hh = fw_hh.data();
  a.b_ih = ptr_or_null(fb_ih);
  a.b_hh = ptr_or_null(fb_hh);
  CancelHook hook{&poll_signals, nullptr};
  Status status;
  {
    py::gil_scoped_release release;
    status = k.forward(a, layout, packed, effective_num_threads(), hook);
  }
  raise_status(status, op);
  py::object states = lstm ? py::object(py::make_tuple(h_n, c_n)) : py::object(h_n);
  py::object saved_obj = saved ? py::cast(std::move(saved)) : py::none();
  return py::make_tuple(y, states, saved_obj);
}

py::dict backward(Family family, const char* op, py::handle dy, py::handle dh_n,
                  py::handle dc_n, py::handle saved_obj, py::handle want_dh_seq) {
  Saved& s = saved_of(saved_obj, family, op);
  const bool return_dh_seq = flag(want_dh_seq, op, "return_dh_seq");
  const bool lstm = family == Family::Lstm;
  const int64_t T = s.T, B = s.B, I = s.I, H = s.H, G = gates_of(s.cell);
  auto ady = as_optional(dy, op, "dy");
  if (ady) expect_shape(*ady, {T, B, H}, op, "dy", "(T, B, H)");
  auto adh = as_optional(dh_n, op, "dh_n");
  if (adh) expect_shape(*adh, {B, H}, op, "dh_n", "(B, H)");
  std::optional<py::array> adc;
  if (lstm) {
    adc = as_optional(dc_n, op, "dc_n");
    if (adc) expect_shape(*adc, {B, H}, op, "dc_n", "(B, H)");
  }
  SizeBudget budget(op);
  budget.add({T, B, I});                 // dx
  budget.add({T, B, 2 * G * H});         // dA and its companions
  budget.add({return_dh_seq ? T : 0, B, H});
  budget.add({4, G * H, I + H});
  budget.check();

  auto fdy = to_f32(ady), fdh = to_f32(adh), fdc = to_f32(adc);
  // dx, the weight gradients and dh_seq are written whole by the kernel: no zeroing pass.
  py::array_t<float> dx = new_array({T, B, I}, false), dh0 = new_array({B, H}, true);
  py::array_t<float> dc0 = lstm ? new_array({B, H}, true) : py::array_t<float>();
  py::array_t<float> dw_ih = new_array({G * H, I}, false), dw_hh = new_array({G * H, H}, false);
  py::array_t<float> db_ih = s.has_b_ih ? new_array({G * H}, true) : py::array_t<float>();
  py::array_t<float> db_hh = s.has_b_hh ? new_array({G * H}, true) : py::array_t<float>();
  py::array_t<float> dh_seq = return_dh_seq ? new_array({T, B, H}, false) : py::array_t<float>();

  BackwardArgs a;
  a.cell = s.cell;
  a.T = T;
  a.B = B;
  a.I = I;
  a.H = H;
  a.x = s.x.get();
  a.w_ih = s.w_ih.get();
  a.w_hh = s.w_hh.get();
  a.lengths = s.lengths.empty() ? nullptr : s.lengths.data();
  a.mask = s.mask.empty() ? nullptr : s.mask.data();
  a.reverse = s.reverse;
  a.gates = s.gates.get();
  a.hs = s.hs.get();
  a.cs = s.cs.get();
  a.dy = ptr_or_null(fdy);
  a.dh_n = ptr_or_null(fdh);
  a.dc_n = ptr_or_null(fdc);
  a.dx = dx.mutable_data();
  a.dh0 = dh0.mutable_data();
  a.dc0 = lstm ? dc0.mutable_data() : nullptr;
  a.dw_ih = dw_ih.mutable_data();
  a.dw_hh = dw_hh.mutable_data();
  a.db_ih = s.has_b_ih ? db_ih.mutable_data() : nullptr;
  a.db_hh = s.has_b_hh ? db_hh.mutable_data() : nullptr;
  a.dh_seq = return_dh_seq ? dh_seq.mutable_data() : nullptr;
  CancelHook hook{&poll_signals, nullptr};
  Status status;
  {
    py::gil_scoped_release release;
    status = kernels().backward(a, effective_num_threads(), hook);
  }
  raise_status(status, op);
  py::dict grads;
  grads["x"] = dx;
  grads["h0"] = dh0;
  if (lstm) grads["c0"] = dc0;
  grads["w_ih"] = dw_ih;
  grads["w_hh"] = dw_hh;
  grads["b_ih"] = s.has_b_ih ? py::object(db_ih) : py::none();
  grads["b_hh"] = s.has_b_hh ? py::object(db_hh) : py::none();
  if (return_dh_seq) grads["dh_seq"] = dh_seq;
  return grads;
}

std::shared_ptr<Packed> pack(Cell cell, const char* op, py::handle w_ih, py::handle w_hh,
                             py::handle b_ih, py::handle b_hh) {
  Weights w = read_weights(cell, op, w_ih, w_hh, b_ih, b_hh, -1);
  const Kernels& k = kernels();
  auto out = std::make_shared<Packed>();
  out->layout = make_layout(cell, w.I, w.H, k.panel_width);
  out->isa = k.isa;
  SizeBudget budget(op);
  budget.add({out->layout.total});
  budget.check();
  auto fw_ih = to_f32(w.w_ih), fw_hh = to_f32(w.w_hh);
  auto fb_ih = to_f32(w.b_ih), fb_hh = to_f32(w.b_hh);
  out->data = std::make_unique<StreamedFloats>(out->layout.total);
  std::fill(out->data->data(), out->data->data() + out->layout.total, 0.0f);
  {
    py::gil_scoped_release release;
    k.pack(out->layout, out->data->data(), fw_ih.data(), fw_hh.data(), ptr_or_null(fb_ih),
           ptr_or_null(fb_hh));
  }
  return out;
}

py::object step(Family family, const char* op, py::handle x, py::handle h, py::handle c,
                py::handle weights, py::handle out) {
  const bool lstm = family == Family::Lstm;
  auto packer = [&] { return std::string("rnnkit.ops.pack_") + family_name(family); };
  if (!py::isinstance<Packed>(weights)) {
    type_error(op, "weights must be the object " + packer() + "(...) returned, got " +
                       type_name(weights));
  }
  const Packed& p = weights.cast<const Packed&>();
  if (family_of(p.layout.cell) != family) {
    type_error(op, std::string("weights come from rnnkit.ops.pack_") +
                       family_name(family_of(p.layout.cell)) + ", expected " + packer());
  }
  if (p.isa != current_isa()) {
    value_error(op, std::string("weights were packed for the ") + isa_name(p.isa) +
                        " path but the current path is " + isa_name(current_isa()) +
                        ": pack them again");
  }
  const int64_t I = p.layout.I, H = p.layout.H;
  py::array ax = as_array(x, op, "x_t");
  if (ax.ndim() != 2 || ax.shape(1) != I) {
    value_error(op, "x_t has shape " + shape_str(ax) + ", expected (B, I) with I = " +
                        std::to_string(I));
  }
  const int64_t B = ax.shape(0);
  auto ah = as_optional(h, op, "h");
  if (ah) expect_shape(*ah, {B, H}, op, "h", "(B, H)");
  std::optional<py::array> ac;
  if (lstm) {
    ac = as_optional(c, op, "c");
    if (ac) expect_shape(*ac, {B, H}, op, "c", "(B, H)");
  }
  SizeBudget budget(op);
  budget.add({B, I});
  budget.add({lstm ? 6 : 3, B, H});
  budget.check();
  py::array_t<float> h_out, c_out;
  if (out.is_none()) {
    h_out = new_array({B, H}, false);
    if (lstm) c_out = new_array({B, H}, false);
  } else if (lstm) {
    if (!py::isinstance<py::tuple>(out) || py::len(out) != 2) {
      type_error(op, "out must be a tuple (h_out, c_out), got " + type_name(out));
    }
    py::tuple t = py::reinterpret_borrow<py::tuple>(out);
    h_out = out_array(t[0], op, "out[0]", B, H);
    c_out = out_array(t[1], op, "out[1]", B, H);
  } else {
    h_out = out_array(out, op, "out", B, H);
  }
  auto fx = to_f32(ax);
  auto fh = ah ? to_f32(*ah) : new_array({B, H}, true);
  py::array_t<float> fc;
  if (lstm) fc = ac ? to_f32(*ac) : new_array({B, H}, true);

  const int64_t BH = B * H;
  float* ho = h_out.mutable_data();
  float* co = lstm ? c_out.mutable_data() : nullptr;
  const bool h_alias = ho == fh.data(), c_alias = lstm && co == fc.data();
  if (overlaps(ho, BH, fx.data(), fx.size()) || (!h_alias && overlaps(ho, BH, fh.data(), BH)) ||
      (lstm && (overlaps(co, BH, fx.data(), fx.size()) || overlaps(co, BH, ho, BH) ||
                overlaps(co, BH, fh.data(), BH) || overlaps(ho, BH, fc.data(), BH) ||
                (!c_alias && overlaps(co, BH, fc.data(), BH))))) {
    value_error(op, "out overlaps the inputs other than as the same state array (in place)");
  }
  Status status;
  {
    py::gil_scoped_release release;
    status = kernels_for(p.isa).step(p.layout, p.data->data(), B, fx.data(), fh.data(),
                                     lstm ? fc.data() : nullptr, ho, co, effective_num_threads());
  }
  raise_status(status, op);
  if (lstm) return py::make_tuple(h_out, c_out);
  return std::move(h_out);
}

StreamedFloats::StreamedFloats(int64_t n) {
  const size_t bytes = sizeof(float) * static_cast<size_t>(n > 0 ? n : 1);
  const size_t huge = size_t(2) << 20;
  void* p = nullptr;
  if (bytes >= 2 * huge) {
    const size_t rounded = (bytes + huge - 1) / huge * huge;
    if (posix_memalign(&p, huge, rounded) != 0) p = nullptr;
#ifdef MADV_HUGEPAGE
    if (p != nullptr) madvise(p, rounded, MADV_HUGEPAGE);
#endif
  } else {
    p = std::malloc(bytes);
  }
  if (p == nullptr) throw std::bad_alloc();
  p_ = static_cast<float*>(p);
  n_ = n;
}

StreamedFloats::~StreamedFloats() { std::free(p_); }

namespace {

struct ActivationCache {
  struct Block {
    float* p;
    size_t n;
  };
  std::vector<Block> blocks;  // oldest first
  size_t bytes = 0, max_bytes = 0, min_bytes = 0;

  // Frees the oldest blocks until at most `limit` bytes are held.
  void trim(size_t limit) {
    while (!blocks.empty() && bytes > limit) {
      bytes -= blocks.front().n * sizeof(float);
      delete[] blocks.front().p;
      blocks.erase(blocks.begin());
    }
  }
};

// Never destroyed: Python may free Saved objects after static destructors have run.
ActivationCache& activation_cache() {
  static auto* cache = new ActivationCache();
  return *cache;
}

}  // namespace

ActivationBlock take_activation_block(size_t n) {
  ActivationCache& c = activation_cache();
  // A cached block of n to 5n/4 floats: a training loop asks for the same sizes every step (a
  // smaller last batch may take a larger block), and a much larger block would sit idle.
  for (size_t i = 0; i < c.blocks.size(); ++i) {
    const ActivationCache::Block b = c.blocks[i];
    if (b.n >= n && b.n - n <= n / 4) {
      c.blocks.erase(c.blocks.begin() + static_cast<std::ptrdiff_t>(i));
      c.bytes -= b.n * sizeof(float);
      return ActivationBlock(b.p, ActivationFree{b.n});
    }
  }
  float* p = new (std::nothrow) float[n];
  if (p == nullptr && !c.blocks.empty()) {  // the cache's memory first
    c.trim(0);
    p = new (std::nothrow) float[n];
  }
  if (p == nullptr) throw std::bad_alloc();
  return ActivationBlock(p, ActivationFree{n});
}

void ActivationFree::operator()(float* p) const {
  if (p == nullptr) return;
  ActivationCache& c = activation_cache();
  const size_t size = n * sizeof(float);
  if (size < c.min_bytes || size > c.max_bytes) {
    delete[] p;
    return;
  }
  c.trim(c.max_bytes - size);  // size <= max_bytes here
  try {  // a deleter must not throw: without room to note the block, free it
    c.blocks.push_back({p, n});
  } catch (const std::bad_alloc&) {
    delete[] p;
    return;
  }
  c.bytes += size;
}

void set_activation_cache(int64_t max_bytes, int64_t min_bytes) {
  ActivationCache& c = activation_cache();
  c.max_bytes = static_cast<size_t>(std::max<int64_t>(max_bytes, 0));
  c.min_bytes = static_cast<size_t>(std::max<int64_t>(min_bytes, 0));
  c.trim(c.max_bytes);
}

py::tuple activation_cache_info() {
  const ActivationCache& c = activation_cache();
  return py::make_tuple(c.blocks.size(), c.bytes);
}

}  // namespace rnnkit
