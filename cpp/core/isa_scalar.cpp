// The scalar kernels: kernels_impl.inc compiled with this path's flags (see CMakeLists.txt) in
// its own namespace.
#include <omp.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "core.h"
#include "simd_scalar.h"

namespace rnnkit {
namespace scalar {

constexpr Isa ISA = Isa::Scalar;
constexpr int MR = 4;   // micro-tile rows
constexpr int NR = 8;  // panel width = units per block
constexpr bool ROW_CHAINS = false;  // no: nothing to interleave
#include "simd_multi.inc"
RNNKIT_VN_1(vexp)
RNNKIT_VN_1(vsigmoid)
RNNKIT_VN_1(vtanh)

#include "kernels_impl.inc"

}  // namespace scalar
}  // namespace rnnkit
