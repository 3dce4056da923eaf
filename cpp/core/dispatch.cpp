// The one place that decides the ISA: CPUID + XCR0 (OS support), never the vendor.
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "core.h"

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#define RNNKIT_X86 1
#include <cpuid.h>
#endif

namespace rnnkit {

namespace scalar {
const Kernels& get_kernels();
}
#ifdef RNNKIT_X86
namespace avx2 {
const Kernels& get_kernels();
}
namespace avx512 {
const Kernels& get_kernels();
}
#endif

namespace {

#ifdef RNNKIT_X86
uint64_t read_xcr0() {
  uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}

bool cpu_has(Isa isa) {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
  const bool osxsave = c & (1u << 27), avx = c & (1u << 28), fma = c & (1u << 12);
  if (!osxsave || !avx) return false;
  const uint64_t xcr0 = read_xcr0();
  const bool os_ymm = (xcr0 & 0x6) == 0x6;            // SSE + AVX state
  const bool os_zmm = (xcr0 & 0xE6) == 0xE6;          // + opmask, ZMM_Hi256, Hi16_ZMM
  if (__get_cpuid_max(0, nullptr) < 7) return false;
  __cpuid_count(7, 0, a, b, c, d);
  const bool avx2 = b & (1u << 5), avx512f = b & (1u << 16);
  switch (isa) {
    case Isa::Avx2: return os_ymm && avx2 && fma;
    case Isa::Avx512: return os_zmm && avx512f && avx2 && fma;
    default: return true;
  }
}
#else
bool cpu_has(Isa isa) { return isa == Isa::Scalar; }
#endif

Isa best_available() {
  for (Isa isa : available_isas()) return isa;
  return Isa::Scalar;
}

Isa initial_isa() {
  const char* forced = std::getenv("RNNKIT_ISA");
  if (forced == nullptr || *forced == '\0') return best_available();
  Isa isa;
  if (!isa_from_name(forced, &isa)) {
    throw std::invalid_argument(std::string("RNNKIT_ISA=") + forced +
                                " is not a SIMD path; expected one of avx512, avx2, scalar");
  }
  if (!cpu_has(isa)) {
    throw std::invalid_argument(std::string("RNNKIT_ISA=") + forced +
                                " asks for a SIMD path this CPU (or OS) does not support");
  }
  return isa;
}

std::atomic<int>& isa_slot() {
  static std::atomic<int> slot{static_cast<int>(initial_isa())};
  return slot;
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    default: return "scalar";
  }
}

bool isa_from_name(const char* name, Isa* out) {
  for (Isa isa : {Isa::Avx512, Isa::Avx2, Isa::Scalar}) {
    if (std::strcmp(name, isa_name(isa)) == 0) {
      *out = isa;
      return true;
    }
  }
  return false;
}

std::vector<Isa> available_isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::Avx512, Isa::Avx2, Isa::Scalar}) {
    if (cpu_has(isa)) out.push_back(isa);
  }
  return out;
}

Isa current_isa() { return static_cast<Isa>(isa_slot().load(std::memory_order_relaxed)); }

void set_isa(Isa isa) {
  if (!cpu_has(isa)) {
    throw std::invalid_argument(std::string("this CPU (or OS) does not support the ") +
                                isa_name(isa) + " path");
  }
  isa_slot().store(static_cast<int>(isa), std::memory_order_relaxed);
}

const Kernels& kernels_for(Isa isa) {
#ifdef RNNKIT_X86
  if (isa == Isa::Avx512) return avx512::get_kernels();
  if (isa == Isa::Avx2) return avx2::get_kernels();
#endif
  return scalar::get_kernels();
}

}  // namespace rnnkit
