// Pieces of a training step that NumPy does in many small passes: the Adam update over every
// float32 variable, the Embedding layer's gradient (rows summed per token id), and the fused
// softmax crossentropy of a classifier's output layer.
//
// For the small models of the seed programs those passes, and the Python around them, cost
// several times the arithmetic. Here each element is read and written once. The operations are
// NumPy's, in the same order, in float32, compiled without FMA contraction
// (-ffp-contract=off), so both paths give bitwise the same result (tests check it); the
// crossentropy sums in double and agrees with NumPy to float32 round-off. The GIL is
// held throughout: a Ctrl-C cannot land between two variables, so an update is all or nothing.
// Each function returns False, touching nothing, when its arrays are not what it handles; the
// caller then takes the NumPy path.
#include <cmath>
#include <limits>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "common.h"

namespace rnnkit {
namespace {

using FloatArray = py::array_t<float, py::array::c_style>;
// NumPy's ALIGNED flag: an unaligned buffer (np.frombuffer at an odd offset) is declined.
constexpr int kAligned = py::detail::npy_api::NPY_ARRAY_ALIGNED_;

// A writeable C-contiguous float32 array, or nothing (the caller then takes the NumPy path).
bool as_float32(py::handle h, py::array* out) {
  if (!py::isinstance<py::array>(h)) return false;
  auto a = py::reinterpret_borrow<py::array>(h);
  if (!is_float32(a) || !(a.flags() & kAligned)) return false;
  if (!(a.flags() & py::array::c_style) || !a.writeable()) return false;
  *out = a;
  return true;
}

// Adam (Kingma & Ba, with Keras's epsilon placement) on variables whose first and second
// moments are the flat buffers m and v, laid out variable after variable. decay_lr is
// weight_decay * learning_rate applied first (var -= var * weight_decay * lr), when
// has_decay. Returns False, touching nothing, if any array is not what this path handles.
bool adam_update(py::sequence variables, py::sequence grads, py::handle m_obj,
                 py::handle v_obj, float alpha, float one_minus_beta_1,
                 float one_minus_beta_2, float epsilon, bool has_decay, float weight_decay,
                 float lr) {
  const size_t n = py::len(variables);
  if (py::len(grads) != n) return false;
  py::array m, v;
  if (!as_float32(m_obj, &m) || !as_float32(v_obj, &v)) return false;
  std::vector<py::array> vars(n), gs(n);
  py::ssize_t total = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!as_float32(variables[i], &vars[i])) return false;
    // Gradients may be strided (a transposed view): read through a C-contiguous copy then.
    py::handle g = grads[i];
    if (!is_float32(g)) return false;
    gs[i] = FloatArray::ensure(g);
    if (!gs[i] || !(gs[i].flags() & kAligned)) return false;
    if (vars[i].size() != gs[i].size()) return false;
    total += vars[i].size();
  }
  if (m.size() != total || v.size() != total) return false;

  float* mp = static_cast<float*>(m.mutable_data());
  float* vp = static_cast<float*>(v.mutable_data());
  for (size_t i = 0; i < n; ++i) {
    float* w = static_cast<float*>(vars[i].mutable_data());
    const float* g = static_cast<const float*>(gs[i].data());
    const py::ssize_t size = vars[i].size();
    for (py::ssize_t j = 0; j < size; ++j) {
      float x = w[j];
      if (has_decay) x = x - x * weight_decay * lr;
      const float gj = g[j];
      const float mj = mp[j] + (gj - mp[j]) * one_minus_beta_1;
      const float vj = vp[j] + (gj * gj - vp[j]) * one_minus_beta_2;
      mp[j] = mj;
      vp[j] = vj;
      w[j] = x - (mj * alpha) / (std::sqrt(vj) + epsilon);
    }
    mp += size;
    vp += size;
  }
  return true;
}

// out (V, D) += rows (N, D) summed per id: out[ids[i]] += rows[i] for i in order, which is the
// order the NumPy path (stable sort by id, then a segment sum) adds them in.
bool embedding_grad(py::handle ids_obj, py::handle rows_obj, py::handle out_obj) {
  py::array out;
  if (!as_float32(out_obj, &out) || out.ndim() != 2) return false;
  if (!py::isinstance<py::array_t<int64_t>>(ids_obj)) return false;
  auto ids = py::array_t<int64_t, py::array::c_style>::ensure(ids_obj);
  if (!ids || ids.ndim() != 1 || !py::isinstance<py::array>(rows_obj) ||
      !is_float32(rows_obj)) {
    return false;
  }
  auto rows = FloatArray::ensure(rows_obj);
  const py::ssize_t n = ids.shape(0), vocab = out.shape(0), dim = out.shape(1);
  if (!rows || rows.ndim() != 2 || rows.shape(0) != n || rows.shape(1) != dim ||
      !(rows.flags() & kAligned) || !(ids.flags() & kAligned)) {
    return false;
  }
  const int64_t* id = ids.data();
  for (py::ssize_t i = 0; i < n; ++i) {
    if (id[i] < 0 || id[i] >= vocab) return false;
  }
  float* o = static_cast<float*>(out.mutable_data());
  const float* r = rows.data();
  for (py::ssize_t i = 0; i < n; ++i) {
    float* dst = o + id[i] * dim;
    const float* src = r + i * dim;
    for (py::ssize_t j = 0; j < dim; ++j) dst[j] += src[j];
  }
  return true;
}

// Softmax crossentropy from logits, row by row, as the fused Dense(softmax) + crossentropy of
// a training step needs it: z and t (rows, C), t a distribution (one-hot, smoothed) per row;
// loss[r] = -sum_c t[r,c] * log_softmax(z[r])_c and
// grad[r,c] = softmax(z[r])_c * sum_c t[r,c] - t[r,c] (d loss[r] / d z[r,c]).
// The NumPy path's formulas (shift by the row max, log of the summed exponentials), with
// the exponentials from the kernels' vector exp (<= 2 ulp) and the sums in double; a NaN logit
// makes its row's loss and gradient NaN, as there. grad must not overlap z or t (it is written
// before they are read for its row).
bool softmax_xent(py::handle z_obj, py::handle t_obj, py::handle loss_obj, py::handle grad_obj) {
  py::array z, t, loss, grad;
  if (!as_float32(loss_obj, &loss) || !as_float32(grad_obj, &grad)) return false;
  for (auto [h, a] : {std::pair<py::handle, py::array*>{z_obj, &z}, {t_obj, &t}}) {
    if (!py::isinstance<py::array>(h)) return false;
    auto arr = py::reinterpret_borrow<py::array>(h);
    if (!is_float32(arr) || !(arr.flags() & py::array::c_style) ||
        !(arr.flags() & kAligned)) {
      return false;
    }
    *a = arr;
  }
  if (z.ndim() != 2 || t.ndim() != 2 || grad.ndim() != 2 || loss.ndim() != 1) return false;
  const py::ssize_t rows = z.shape(0), classes = z.shape(1);
  if (t.shape(0) != rows || t.shape(1) != classes || grad.shape(0) != rows ||
      grad.shape(1) != classes || loss.shape(0) != rows || classes == 0) {
    return false;
  }
  const float* zp = static_cast<const float*>(z.data());
  const float* tp = static_cast<const float*>(t.data());
  float* lp = static_cast<float*>(loss.mutable_data());
  float* gp = static_cast<float*>(grad.mutable_data());
  const Kernels& k = kernels();
  for (py::ssize_t r = 0; r < rows; ++r) {
    const float* zr = zp + r * classes;
    const float* tr = tp + r * classes;
    float* gr = gp + r * classes;
    float top = zr[0];
    bool nan = false;
    for (py::ssize_t c = 0; c < classes; ++c) {
      nan = nan || std::isnan(zr[c]);
      top = zr[c] > top ? zr[c] : top;
    }
    // shifted = z - max, then its exponentials in place with the ISA's vector exp
    double dot = 0.0, sum_t = 0.0;
    for (py::ssize_t c = 0; c < classes; ++c) {
      gr[c] = zr[c] - top;
      dot += static_cast<double>(tr[c]) * gr[c];
      sum_t += tr[c];
    }
    k.vmath(VMath::Exp, gr, gr, classes);
    double sum_exp = 0.0;
    for (py::ssize_t c = 0; c < classes; ++c) sum_exp += gr[c];
    // loss = -sum t * (shifted - log sum_exp); grad = softmax * sum t - t
    lp[r] = static_cast<float>(std::log(sum_exp) * sum_t - dot);
    const double scale = sum_t / sum_exp;
    for (py::ssize_t c = 0; c < classes; ++c) {
      gr[c] = static_cast<float>(gr[c] * scale - tr[c]);
    }
    if (nan) {
      lp[r] = std::numeric_limits<float>::quiet_NaN();
      for (py::ssize_t c = 0; c < classes; ++c) gr[c] = std::numeric_limits<float>::quiet_NaN();
    }
  }
  return true;
}

// A float32 2-D operand as (rows, cols, row stride, column stride) in elements, transposed if
// asked; false when it is not one (or its strides are not whole elements).
bool operand(py::handle h, bool transpose, py::array* out, int64_t* rows, int64_t* cols,
             int64_t* rs, int64_t* cs) {
  if (!py::isinstance<py::array>(h)) return false;
  auto a = py::reinterpret_borrow<py::array>(h);
  if (!is_float32(a) || a.ndim() != 2 || !(a.flags() & kAligned)) return false;
  if (a.strides(0) % static_cast<py::ssize_t>(sizeof(float)) != 0 ||
      a.strides(1) % static_cast<py::ssize_t>(sizeof(float)) != 0) {
    return false;
  }
  *out = a;
  *rows = a.shape(0);
  *cols = a.shape(1);
  *rs = a.strides(0) / static_cast<py::ssize_t>(sizeof(float));
  *cs = a.strides(1) / static_cast<py::ssize_t>(sizeof(float));
  if (transpose) {
    std::swap(*rows, *cols);
    std::swap(*rs, *cs);
  }
  return true;
}

// op(a) @ op(b) for float32 2-D arrays (op transposes when asked, as a strided view: nothing is
// copied), as a new C-contiguous array, on rnnkit's threads with the GIL released; None when an
// operand is not a float32 2-D array (the caller then uses NumPy).
py::object matmul(py::handle a_obj, py::handle b_obj, bool transpose_a, bool transpose_b) {
  py::array a, b;
  int64_t M, K, K2, N, rsa, csa, rsb, csb;
  if (!operand(a_obj, transpose_a, &a, &M, &K, &rsa, &csa) ||
      !operand(b_obj, transpose_b, &b, &K2, &N, &rsb, &csb)) {
    return py::none();
  }
  if (K != K2) {
    throw py::value_error("[_matmul] inner dimensions differ: a is (" + std::to_string(M) + ", " +
                          std::to_string(K) + "), b is (" + std::to_string(K2) + ", " +
                          std::to_string(N) + ")");
  }
  py::array_t<float> c({static_cast<py::ssize_t>(M), static_cast<py::ssize_t>(N)});
  const float* pa = static_cast<const float*>(a.data());
  const float* pb = static_cast<const float*>(b.data());
  float* pc = c.mutable_data();
  Status status;
  {
    py::gil_scoped_release release;
    status = kernels().gemm(M, N, K, pa, rsa, csa, pb, rsb, csb, pc, N, effective_num_threads());
  }
  if (status == Status::OutOfMemory) throw std::bad_alloc();
  return std::move(c);
}

}  // namespace

void init_training(py::module_& m) {
  m.def("_adam_update", &adam_update, py::arg("variables"), py::arg("grads"), py::arg("m"),
        py::arg("v"), py::arg("alpha"), py::arg("one_minus_beta_1"),
        py::arg("one_minus_beta_2"), py::arg("epsilon"), py::arg("has_decay"),
        py::arg("weight_decay"), py::arg("lr"),
        "Adam on float32 variables with flat moment buffers, in place; False (nothing "
        "touched) when an array is not a C-contiguous float32 of the expected size.");
  m.def("_embedding_grad", &embedding_grad, py::arg("ids"), py::arg("rows"), py::arg("out"),
        "out[ids[i]] += rows[i] in order (int64 ids, float32 rows and out), in place; False "
        "(nothing touched) when the arrays do not fit.");
  m.def("_matmul", &matmul, py::arg("a"), py::arg("b"), py::arg("transpose_a") = false,
        py::arg("transpose_b") = false,
        "op(a) @ op(b) for float32 2-D arrays on rnnkit's threads (op: the transpose when "
        "asked); None when an operand is not a float32 2-D array.");
  m.def("_softmax_xent", &softmax_xent, py::arg("logits"), py::arg("target"), py::arg("loss"),
        py::arg("grad"),
        "Per-row softmax crossentropy of float32 (rows, C) logits against target "
        "distributions, into loss (rows,) and grad (rows, C); False (nothing touched) when the "
        "arrays do not fit.");
}

}  // namespace rnnkit
