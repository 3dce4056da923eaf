// The avx2 kernels: kernels_impl.inc compiled with this path's flags (see CMakeLists.txt) in
// its own namespace.
#include <omp.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "core.h"
#include "simd_avx2.h"

namespace rnnkit {
namespace avx2 {

constexpr Isa ISA = Isa::Avx2;
constexpr int MR = 6;   // micro-tile rows
constexpr int NR = 16;  // panel width = units per block
constexpr bool ROW_CHAINS = false;  // 16 registers: whole-row epilogues made forwards 20% slower
#include "simd_multi.inc"
#include "simd_math.inc"
#include "kernels_impl.inc"

}  // namespace avx2
}  // namespace rnnkit
