// AVX2 + FMA vector of 8 floats. Included only by isa_avx2.cpp (compiled with AVX2/FMA flags).
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace rnnkit {
namespace avx2 {

struct V {
  static constexpr int W = 8;
  __m256 v;
};

inline __m256i tail_mask(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
inline V vload(const float* p) { return {_mm256_loadu_ps(p)}; }
inline V vloadn(const float* p, int n) { return {_mm256_maskload_ps(p, tail_mask(n))}; }
inline void vstore(float* p, V a) { _mm256_storeu_ps(p, a.v); }
inline void vstoren(float* p, int n, V a) { _mm256_maskstore_ps(p, tail_mask(n), a.v); }
inline V vset1(float a) { return {_mm256_set1_ps(a)}; }
inline V vzero() { return {_mm256_setzero_ps()}; }
inline V vadd(V a, V b) { return {_mm256_add_ps(a.v, b.v)}; }
inline V vsub(V a, V b) { return {_mm256_sub_ps(a.v, b.v)}; }
inline V vmul(V a, V b) { return {_mm256_mul_ps(a.v, b.v)}; }
// 1/d for d >= 1: a true division (the 12-bit estimate would need two Newton steps to give
// exactly 1 at d = 1).
inline V vrecip_ge1(V d) { return {_mm256_div_ps(_mm256_set1_ps(1.0f), d.v)}; }
inline V vfmadd(V a, V b, V c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
inline V vfnmadd(V a, V b, V c) { return {_mm256_fnmadd_ps(a.v, b.v, c.v)}; }
inline V vmax(V a, V b) { return {_mm256_max_ps(a.v, b.v)}; }
inline V vmin(V a, V b) { return {_mm256_min_ps(a.v, b.v)}; }
inline V vabs(V a) {
  return {_mm256_and_ps(a.v, _mm256_castsi256_ps(_mm256_set1_epi32(INT32_MAX)))};
}
inline V vround(V a) { return {_mm256_round_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)}; }
inline V vcopysign(V magnitude, V sign) {
  const __m256 sign_bit = _mm256_castsi256_ps(_mm256_set1_epi32(INT32_MIN));
  return {_mm256_or_ps(_mm256_andnot_ps(sign_bit, magnitude.v), _mm256_and_ps(sign_bit, sign.v))};
}
inline V vpow2i(V n) {
  __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n.v), _mm256_set1_epi32(127));
  return {_mm256_castsi256_ps(_mm256_slli_epi32(e, 23))};
}
inline V vselect_lt(V a, V b, V x, V y) {
  return {_mm256_blendv_ps(y.v, x.v, _mm256_cmp_ps(a.v, b.v, _CMP_LT_OQ))};
}
inline V vselect_gt(V a, V b, V x, V y) {
  return {_mm256_blendv_ps(y.v, x.v, _mm256_cmp_ps(a.v, b.v, _CMP_GT_OQ))};
}

}  // namespace avx2
}  // namespace rnnkit
