// Packed-weight layouts: generic code, so no buffer is ever allocated by a per-ISA unit.
#include "core.h"

namespace rnnkit {

PackedLayout make_layout(Cell cell, int64_t I, int64_t H, int64_t U) {
  PackedLayout l;
  l.cell = cell;
  l.I = I;
  l.H = H;
  l.G = gates_of(cell);
  l.U = U;
  l.NU = (H + U - 1) / U;
  l.ncols = l.NU * l.G * U;
  l.off_w_hh = l.ncols * I;
  l.off_bias_x = l.off_w_hh + l.ncols * H;
  l.off_bias_hn = l.off_bias_x + l.ncols;
  l.total = l.off_bias_hn + (cell == Cell::Gru ? l.NU * U : 0);
  return l;
}

}  // namespace rnnkit
