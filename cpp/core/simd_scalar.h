// Portable "vector" of one float: the complete fallback path, and the only one off x86.
#pragma once
#include <cmath>

namespace rnnkit {
namespace scalar {

struct V {
  static constexpr int W = 1;
  float v;
};

inline V vload(const float* p) { return {*p}; }
inline V vloadn(const float* p, int n) { return {n > 0 ? *p : 0.0f}; }
inline void vstore(float* p, V a) { *p = a.v; }
inline void vstoren(float* p, int n, V a) {
  if (n > 0) *p = a.v;
}
inline V vset1(float a) { return {a}; }
inline V vzero() { return {0.0f}; }
inline V vadd(V a, V b) { return {a.v + b.v}; }
inline V vsub(V a, V b) { return {a.v - b.v}; }
inline V vmul(V a, V b) { return {a.v * b.v}; }
// Not fused: a portable build may lack FMA hardware, where std::fma is a slow library call.
inline V vfmadd(V a, V b, V c) { return {a.v * b.v + c.v}; }
inline V vfnmadd(V a, V b, V c) { return {c.v - a.v * b.v}; }
inline V vmax(V a, V b) { return {a.v > b.v ? a.v : b.v}; }
inline V vmin(V a, V b) { return {a.v < b.v ? a.v : b.v}; }
inline V vabs(V a) { return {std::fabs(a.v)}; }
inline V vselect_lt(V a, V b, V x, V y) { return a.v < b.v ? x : y; }
inline V vselect_gt(V a, V b, V x, V y) { return a.v > b.v ? x : y; }
inline V vexp(V a) { return {std::exp(a.v)}; }
inline V vtanh(V a) { return {std::tanh(a.v)}; }
inline V vsigmoid(V a) { return {1.0f / (1.0f + std::exp(-a.v))}; }

}  // namespace scalar
}  // namespace rnnkit
