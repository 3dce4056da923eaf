// rnnkit._core LSTM functions: lstm_forward, lstm_backward, pack_lstm, lstm_step.
#include "common.h"

namespace rnnkit {

void init_lstm(py::module_& m) {
  using namespace pybind11::literals;
  m.def(
      "lstm_forward",
      [](py::handle x, py::handle h0, py::handle c0, py::handle w_ih, py::handle w_hh,
         py::handle b_ih, py::handle b_hh, py::handle lengths, py::handle mask, py::handle reverse,
         py::handle training) {
        ForwardOptions opt{lengths, mask, reverse, training};
        return forward(Cell::Lstm, "lstm_forward", x, h0, c0, w_ih, w_hh, b_ih, b_hh, opt);
      },
      "x"_a.none(true), "h0"_a.none(true), "c0"_a.none(true), "w_ih"_a.none(true), "w_hh"_a.none(true),
      "b_ih"_a.none(true), "b_hh"_a.none(true), "lengths"_a = py::none(),
      "mask"_a = py::none(), "reverse"_a = py::bool_(false), "training"_a = py::bool_(false));
  m.def(
      "lstm_backward",
      [](py::handle dy, py::handle dstate_n, py::handle saved, py::handle return_dh_seq) {
        py::object dh_n = py::none(), dc_n = py::none();
        if (!dstate_n.is_none()) {
          if (!py::isinstance<py::tuple>(dstate_n) && !py::isinstance<py::list>(dstate_n)) {
            throw py::type_error(
                "[lstm_backward] the state gradients must be a tuple (dh_n, dc_n) or None");
          }
          py::sequence seq = py::reinterpret_borrow<py::sequence>(dstate_n);
          if (py::len(seq) != 2) {
            throw py::value_error(
                "[lstm_backward] the state gradients must be a pair (dh_n, dc_n)");
          }
          dh_n = seq[0];
          dc_n = seq[1];
        }
        return backward(Family::Lstm, "lstm_backward", dy, dh_n, dc_n, saved, return_dh_seq);
      },
      "dy"_a.none(true), "dstate_n"_a.none(true), "saved"_a.none(true), "return_dh_seq"_a = py::bool_(false));
  m.def(
      "pack_lstm",
      [](py::handle w_ih, py::handle w_hh, py::handle b_ih, py::handle b_hh) {
        return pack(Cell::Lstm, "pack_lstm", w_ih, w_hh, b_ih, b_hh);
      },
      "w_ih"_a.none(true), "w_hh"_a.none(true), "b_ih"_a.none(true) = py::none(),
      "b_hh"_a.none(true) = py::none());
  m.def(
      "lstm_step",
      [](py::handle x_t, py::handle h, py::handle c, py::handle weights, py::handle out) {
        return step(Family::Lstm, "lstm_step", x_t, h, c, weights, out);
      },
      "x_t"_a.none(true), "h"_a.none(true), "c"_a.none(true), "weights"_a.none(true),
      "out"_a = py::none());
}

}  // namespace rnnkit
