// rnnkit._core: the private extension module. Users import rnnkit.ops, never this.
#include <omp.h>

#include "common.h"

namespace rnnkit {

void init_runtime(py::module_& m) {
  py::class_<Saved, std::unique_ptr<Saved>>(m, "Saved",
                                            "Activations a *_forward(training=True) kept for "
                                            "its backward. Opaque and read-only.")
      .def_property_readonly("cell", [](const Saved& s) { return family_name(family_of(s.cell)); })
      .def_property_readonly("nbytes", &Saved::nbytes)
      .def("__repr__", [](const Saved& s) {
        return std::string("<rnnkit.ops saved ") + family_name(family_of(s.cell)) + " T=" +
               std::to_string(s.T) + " B=" + std::to_string(s.B) + " H=" + std::to_string(s.H) +
               ">";
      });
  py::class_<Packed, std::shared_ptr<Packed>>(m, "PackedWeights",
                                              "Weights packed once for the step kernels.")
      .def_property_readonly("cell",
                             [](const Packed& p) { return family_name(family_of(p.layout.cell)); })
      .def_property_readonly("input_size", [](const Packed& p) { return p.layout.I; })
      .def_property_readonly("hidden_size", [](const Packed& p) { return p.layout.H; })
      .def_property_readonly("isa", [](const Packed& p) { return isa_name(p.isa); })
      .def("__repr__", [](const Packed& p) {
        return std::string("<rnnkit.ops packed ") + family_name(family_of(p.layout.cell)) +
               " I=" + std::to_string(p.layout.I) + " H=" + std::to_string(p.layout.H) +
               " for " + isa_name(p.isa) + ">";
      });

  m.def("available_isas", [] {
    py::list out;
    for (Isa isa : available_isas()) out.append(isa_name(isa));
    return out;
  }, "The SIMD paths this CPU and OS support, best first.");
  m.def("get_isa", [] { return std::string(isa_name(current_isa())); },
        "The SIMD path the kernels use now.");
  m.def("_set_isa", [](const std::string& name) {
    Isa isa;
    if (!isa_from_name(name.c_str(), &isa)) {
      throw py::value_error("[_set_isa] name is '" + name +
                            "', expected one of 'avx512', 'avx2', 'scalar'");
    }
    try {
      set_isa(isa);
    } catch (const std::invalid_argument& e) {
      throw py::value_error(std::string("[_set_isa] ") + e.what());
    }
  }, py::arg("name"), "Switch the SIMD path (for tests).");
  m.def("_vmath", [](const std::string& name, py::handle x, const std::string& isa_arg) {
    VMath fn;
    if (name == "exp") {
      fn = VMath::Exp;
    } else if (name == "sigmoid") {
      fn = VMath::Sigmoid;
    } else if (name == "tanh") {
      fn = VMath::Tanh;
    } else {
      throw py::value_error("[_vmath] name is '" + name +
                            "', expected one of 'exp', 'sigmoid', 'tanh'");
    }
    Isa isa;
    if (!isa_from_name(isa_arg.c_str(), &isa)) {
      throw py::value_error("[_vmath] isa is '" + isa_arg +
                            "', expected one of 'avx512', 'avx2', 'scalar'");
    }
    bool available = false;
    for (Isa a : available_isas()) available = available || a == isa;
    if (!available) {
      throw py::value_error("[_vmath] isa is '" + isa_arg +
                            "', which this CPU (or OS) does not support");
    }
    if (!py::isinstance<py::array_t<float>>(x)) {
      throw py::type_error("[_vmath] x must be a float32 numpy array, got " +
                           py::str(py::type::handle_of(x).attr("__name__")).cast<std::string>());
    }
    auto in = py::array_t<float, py::array::c_style>::ensure(x);
    py::array_t<float> out(std::vector<py::ssize_t>(in.shape(), in.shape() + in.ndim()));
    const float* src = in.data();
    float* dst = out.mutable_data();
    const int64_t n = in.size();
    {
      py::gil_scoped_release release;
      kernels_for(isa).vmath(fn, src, dst, n);
    }
    return out;
  }, py::arg("name"), py::arg("x"), py::arg("isa"),
     "fn(x) elementwise with one SIMD path's vector exp/sigmoid/tanh (for the accuracy tests).");
  m.def("get_num_threads", &get_num_threads);
  m.def("set_num_threads", [](py::handle n) {
    // Any integer (Python int, numpy integer: whatever has __index__), but not a bool.
    if (py::isinstance<py::bool_>(n) || !py::hasattr(n, "__index__")) {
      throw py::type_error("[set_num_threads] n must be an int, got " +
                           py::str(py::type::handle_of(n).attr("__name__")).cast<std::string>());
    }
    py::int_ value = n.attr("__index__")();
    if (value < py::int_(1) || value > py::int_(4096)) {
      throw py::value_error("[set_num_threads] n must be between 1 and 4096, got " +
                            py::str(value).cast<std::string>());
    }
    set_num_threads(value.cast<int>());
  }, py::arg("n"));
  m.def("default_num_threads", &default_num_threads);
  m.def("effective_num_threads", &effective_num_threads,
        "Threads the kernels use now: 1 in a fork()ed child.");
  m.def("openmp_version", [] { return _OPENMP; });
  m.def("_set_activation_cache", &set_activation_cache, py::arg("max_bytes"),
        py::arg("min_bytes"),
        "Keep at most max_bytes of freed saved-activation blocks of min_bytes and more for the "
        "next training forward (0: none). Set by rnnkit/_malloc.py.");
  m.def("_activation_cache_info", &activation_cache_info,
        "(blocks, bytes) of freed saved-activation blocks kept now.");
}

}  // namespace rnnkit

PYBIND11_MODULE(_core, m) {
  m.doc() = "rnnkit's C++ kernels (private: use rnnkit.ops)";
  rnnkit::init_runtime(m);
  rnnkit::init_rnn(m);
  rnnkit::init_lstm(m);
  rnnkit::init_gru(m);
  rnnkit::init_training(m);
  // Reading the thread count registers the fork handler, and a bad RNNKIT_ISA fails the import.
  rnnkit::get_num_threads();
  rnnkit::current_isa();
}
