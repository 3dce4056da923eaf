// rnnkit._core SimpleRNN functions: rnn_forward, rnn_backward, pack_rnn, rnn_step.
#include "common.h"

namespace rnnkit {

void init_rnn(py::module_& m) {
  using namespace pybind11::literals;
  m.def(
      "rnn_forward",
      [](py::handle x, py::handle h0, py::handle w_ih, py::handle w_hh, py::handle b_ih,
         py::handle b_hh, py::handle activation, py::handle lengths, py::handle mask,
         py::handle reverse, py::handle training) {
        const Cell cell = rnn_cell(activation, "rnn_forward");
        ForwardOptions opt{lengths, mask, reverse, training};
        return forward(cell, "rnn_forward", x, h0, py::none(), w_ih, w_hh, b_ih, b_hh, opt);
      },
      "x"_a.none(true), "h0"_a.none(true), "w_ih"_a.none(true), "w_hh"_a.none(true),
      "b_ih"_a.none(true), "b_hh"_a.none(true), "activation"_a = py::str("tanh"),
      "lengths"_a = py::none(), "mask"_a = py::none(), "reverse"_a = py::bool_(false),
      "training"_a = py::bool_(false));
  m.def(
      "rnn_backward",
      [](py::handle dy, py::handle dh_n, py::handle saved, py::handle return_dh_seq) {
        return backward(Family::Rnn, "rnn_backward", dy, dh_n, py::none(), saved,
                        return_dh_seq);
      },
      "dy"_a.none(true), "dh_n"_a.none(true), "saved"_a.none(true), "return_dh_seq"_a = py::bool_(false));
  m.def(
      "pack_rnn",
      [](py::handle w_ih, py::handle w_hh, py::handle b_ih, py::handle b_hh,
         py::handle activation) {
        return pack(rnn_cell(activation, "pack_rnn"), "pack_rnn", w_ih, w_hh, b_ih, b_hh);
      },
      "w_ih"_a.none(true), "w_hh"_a.none(true), "b_ih"_a.none(true) = py::none(),
      "b_hh"_a.none(true) = py::none(), py::kw_only(), "activation"_a = py::str("tanh"));
  m.def(
      "rnn_step",
      [](py::handle x_t, py::handle h, py::handle weights, py::handle out) {
        return step(Family::Rnn, "rnn_step", x_t, h, py::none(), weights, out);
      },
      "x_t"_a.none(true), "h"_a.none(true), "weights"_a.none(true), "out"_a = py::none());
}

}  // namespace rnnkit
