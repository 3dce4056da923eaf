// The avx512 kernels: kernels_impl.inc compiled with this path's flags (see CMakeLists.txt) in
// its own namespace.
#include <omp.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "core.h"
#include "simd_avx512.h"

namespace rnnkit {
namespace avx512 {

constexpr Isa ISA = Isa::Avx512;
constexpr int MR = 8;   // micro-tile rows
constexpr int NR = 32;  // panel width = units per block
constexpr bool ROW_CHAINS = true;  // epilogues over whole panel rows (simd_multi.inc)
#include "simd_multi.inc"
#include "simd_math.inc"
#include "kernels_impl.inc"

}  // namespace avx512
}  // namespace rnnkit
