// AVX-512F vector of 16 floats. Included only by isa_avx512.cpp (compiled with AVX-512 flags).
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace rnnkit {
namespace avx512 {

struct V {
  static constexpr int W = 16;
  __m512 v;
};

inline __mmask16 tail_mask(int n) { return static_cast<__mmask16>((1u << n) - 1u); }
inline V vload(const float* p) { return {_mm512_loadu_ps(p)}; }
inline V vloadn(const float* p, int n) { return {_mm512_maskz_loadu_ps(tail_mask(n), p)}; }
inline void vstore(float* p, V a) { _mm512_storeu_ps(p, a.v); }
inline void vstoren(float* p, int n, V a) { _mm512_mask_storeu_ps(p, tail_mask(n), a.v); }
inline V vset1(float a) { return {_mm512_set1_ps(a)}; }
inline V vzero() { return {_mm512_setzero_ps()}; }
inline V vadd(V a, V b) { return {_mm512_add_ps(a.v, b.v)}; }
inline V vsub(V a, V b) { return {_mm512_sub_ps(a.v, b.v)}; }
inline V vmul(V a, V b) { return {_mm512_mul_ps(a.v, b.v)}; }
// 1/d for d >= 1, or NaN: the 14-bit estimate plus one Newton step, which leaves an error
// of about an ulp (a division costs 16 cycles a vector). An infinite d gives exactly 0 (the
// step alone would make inf*0 = NaN).
inline V vrecip_ge1(V d) {
  const __m512 max = _mm512_set1_ps(3.4028234663852886e38f);
  const __m512 dc = _mm512_min_ps(max, d.v);  // data second: NaN kept
  const __m512 r = _mm512_rcp14_ps(dc);
  const __m512 refined = _mm512_fmadd_ps(r, _mm512_fnmadd_ps(dc, r, _mm512_set1_ps(1.0f)), r);
  return {_mm512_maskz_mov_ps(~_mm512_cmp_ps_mask(d.v, max, _CMP_GT_OQ), refined)};
}
// a*b + c with one rounding.
inline V vfmadd(V a, V b, V c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
// c - a*b with one rounding.
inline V vfnmadd(V a, V b, V c) { return {_mm512_fnmadd_ps(a.v, b.v, c.v)}; }
// max/min return the second operand when either is NaN: callers pass the data second.
inline V vmax(V a, V b) { return {_mm512_max_ps(a.v, b.v)}; }
inline V vmin(V a, V b) { return {_mm512_min_ps(a.v, b.v)}; }
inline V vabs(V a) { return {_mm512_abs_ps(a.v)}; }
inline V vround(V a) {
  return {_mm512_roundscale_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};
}
inline V vcopysign(V magnitude, V sign) {
  const __m512i sign_bit = _mm512_set1_epi32(INT32_MIN);
  __m512i m = _mm512_andnot_si512(sign_bit, _mm512_castps_si512(magnitude.v));
  __m512i s = _mm512_and_si512(sign_bit, _mm512_castps_si512(sign.v));
  return {_mm512_castsi512_ps(_mm512_or_si512(m, s))};
}
// 2^n for integral n in [-126, 127].
inline V vpow2i(V n) {
  __m512i e = _mm512_add_epi32(_mm512_cvtps_epi32(n.v), _mm512_set1_epi32(127));
  return {_mm512_castsi512_ps(_mm512_slli_epi32(e, 23))};
}
// a * 2^n for integral n (vexp's scaling): exact, +inf on overflow.
#define RNNKIT_HAVE_VSCALE_POW2 1
inline V vscale_pow2(V a, V n) { return {_mm512_scalef_ps(a.v, n.v)}; }
// where(a < b, x, y), and where(a > b, x, y); false for NaN.
inline V vselect_lt(V a, V b, V x, V y) {
  return {_mm512_mask_blend_ps(_mm512_cmp_ps_mask(a.v, b.v, _CMP_LT_OQ), y.v, x.v)};
}
inline V vselect_gt(V a, V b, V x, V y) {
  return {_mm512_mask_blend_ps(_mm512_cmp_ps_mask(a.v, b.v, _CMP_GT_OQ), y.v, x.v)};
}

}  // namespace avx512
}  // namespace rnnkit
