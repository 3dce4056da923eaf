// rnnkit._core GRU functions: gru_forward, gru_backward, pack_gru, gru_step.
#include "common.h"

namespace rnnkit {

void init_gru(py::module_& m) {
  using namespace pybind11::literals;
  m.def(
      "gru_forward",
      [](py::handle x, py::handle h0, py::handle w_ih, py::handle w_hh, py::handle b_ih,
         py::handle b_hh, py::handle reset_after, py::handle lengths, py::handle mask, py::handle reverse,
         py::handle training) {
        ForwardOptions opt{lengths, mask, reverse, training};
        return forward(gru_cell(reset_after, "gru_forward"), "gru_forward", x, h0, py::none(), w_ih, w_hh,
                       b_ih, b_hh, opt);
      },
      "x"_a.none(true), "h0"_a.none(true), "w_ih"_a.none(true), "w_hh"_a.none(true),
      "b_ih"_a.none(true), "b_hh"_a.none(true), "reset_after"_a = py::bool_(true),
      "lengths"_a = py::none(), "mask"_a = py::none(), "reverse"_a = py::bool_(false),
      "training"_a = py::bool_(false));
  m.def(
      "gru_backward",
      [](py::handle dy, py::handle dh_n, py::handle saved, py::handle return_dh_seq) {
        return backward(Family::Gru, "gru_backward", dy, dh_n, py::none(), saved,
                        return_dh_seq);
      },
      "dy"_a.none(true), "dh_n"_a.none(true), "saved"_a.none(true), "return_dh_seq"_a = py::bool_(false));
  m.def(
      "pack_gru",
      [](py::handle w_ih, py::handle w_hh, py::handle b_ih, py::handle b_hh, py::handle reset_after) {
        return pack(gru_cell(reset_after, "pack_gru"), "pack_gru", w_ih, w_hh, b_ih, b_hh);
      },
      "w_ih"_a.none(true), "w_hh"_a.none(true), "b_ih"_a.none(true) = py::none(),
      "b_hh"_a.none(true) = py::none(), py::kw_only(), "reset_after"_a = py::bool_(true));
  m.def(
      "gru_step",
      [](py::handle x_t, py::handle h, py::handle weights, py::handle out) {
        return step(Family::Gru, "gru_step", x_t, h, py::none(), weights, out);
      },
      "x_t"_a.none(true), "h"_a.none(true), "weights"_a.none(true), "out"_a = py::none());
}

}  // namespace rnnkit
