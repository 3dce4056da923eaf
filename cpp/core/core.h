// rnnkit core: the C++ API the bindings call. Knows nothing of Python.
//
// Letters: T time, B batch, I input, H hidden, G gates (RNN 1, GRU 3, LSTM 4).
// Arrays are float32, C-contiguous, time-major: x (T,B,I), states (B,H), y (T,B,H).
// Weights use PyTorch's layout: w_ih (G*H,I), w_hh (G*H,H), biases (G*H) or null.
#pragma once
#include <cstdint>
#include <vector>

namespace rnnkit {

enum class Isa : int { Scalar = 0, Avx2 = 1, Avx512 = 2 };

enum class Cell : int { RnnTanh, RnnRelu, Lstm, Gru, GruResetBefore };

// `static inline`: the per-ISA translation units include this header, and an inline function
// with external linkage compiled there with AVX-512 flags could be the copy the linker keeps
// for every other path (the classic SIGILL on AVX2-only machines).
static inline int gates_of(Cell cell) {
  switch (cell) {
    case Cell::Lstm: return 4;
    case Cell::Gru:
    case Cell::GruResetBefore: return 3;
    default: return 1;
  }
}
static inline bool is_gru(Cell cell) { return cell == Cell::Gru || cell == Cell::GruResetBefore; }

// Polled by thread 0 between steps of long sequences; returns true to stop the kernel.
struct CancelHook {
  bool (*poll)(void* ctx) = nullptr;
  void* ctx = nullptr;
};

enum class Status : int { Ok = 0, Cancelled = 1, OutOfMemory = 2 };

// Where each part of a packed-weights buffer lies (offsets in floats), for one ISA's panel
// width U. Output columns are gate-interleaved by blocks of U hidden units: block u holds gate
// 0's units [u*U, u*U+U), then gate 1's, ..., so the thread owning block u has every gate of
// its units and fuses the cell update into the GEMM epilogue. Units past H are zero padding.
//   w_ih    NU*G panels, each (I, U)
//   w_hh    NU*G panels, each (H, U)
//   bias_x  (NU*G*U) interleaved: every bias that adds to the input side
//   bias_hn (NU*U) GRU reset_after only: b_hn, which sits inside r * (W_hn h + b_hn)
struct PackedLayout {
  Cell cell = Cell::Lstm;
  int64_t I = 0, H = 0, G = 0, U = 0, NU = 0;
  int64_t ncols = 0;  // NU*G*U
  int64_t off_w_hh = 0, off_bias_x = 0, off_bias_hn = 0, total = 0;
};

// Generic code (packed.cpp) computes layouts and owns the memory; kernels only fill and read.
PackedLayout make_layout(Cell cell, int64_t I, int64_t H, int64_t U);

// One forward call. Pointers are caller-owned; optional ones may be null.
struct ForwardArgs {
  Cell cell = Cell::Lstm;
  int64_t T = 0, B = 0, I = 0, H = 0;
  const float* x = nullptr;        // (T,B,I)
  const float* h0 = nullptr;       // (B,H) or null = zeros
  const float* c0 = nullptr;       // (B,H) or null = zeros (LSTM)
  const int64_t* lengths = nullptr;  // (B) or null
  const uint8_t* mask = nullptr;   // (T,B) or null
  bool reverse = false;
  float* y = nullptr;              // (T,B,H)
  float* h_n = nullptr;            // (B,H)
  float* c_n = nullptr;            // (B,H) LSTM
  // Training only (else null): what backward needs.
  float* gates = nullptr;  // (T,B,saved_gate_cols(cell)*H): post-activation gates, natural order
  float* hs = nullptr;     // (T+1,B,H) states; forward: before step t at [t]; reverse: at [t+1]
  float* cs = nullptr;     // (T+1,B,H) LSTM cell states, same indexing
  // Training, optional: backward's own copies of x and the weights, made by the threads that
  // read them anyway (x a chunk of steps at a time, the weights as they pack them), so the copy
  // runs in parallel and from cache. The weights' copies need pack_into.
  float* x_copy = nullptr;     // (T,B,I), offset and strided like x
  float* w_ih_copy = nullptr;  // (G*H, I)
  float* w_hh_copy = nullptr;  // (G*H, H)
  // Optional: pack the weights (PyTorch's layout, as for pack()) into pack_into, which must be
  // the `packed` buffer forward is given (uninitialised is fine). Each thread packs the unit
  // blocks it owns inside the parallel region. Null: `packed` already holds pack()'s result.
  float* pack_into = nullptr;
  const float* w_ih = nullptr;  // (G*H, I)
  const float* w_hh = nullptr;  // (G*H, H)
  const float* b_ih = nullptr;  // (G*H) or null
  const float* b_hh = nullptr;  // (G*H) or null
  // Rows between one step's batch rows and the next's in x, y and mask (0: B). The kernels set
  // it when they hand a slice of the batch to one thread; x, y, mask, lengths, the states then
  // point at the slice's first row.
  int64_t batch_stride = 0;
};

// Columns per step and row kept in ForwardArgs::gates.
// RNN: none. LSTM: i f g o (4). GRU reset_after: r z n and (W_hn h + b_hn) (4). GRU
// reset_before: r z n (3).
static inline int saved_gate_cols(Cell cell) {
  switch (cell) {
    case Cell::Lstm: return 4;
    case Cell::Gru: return 4;
    case Cell::GruResetBefore: return 3;
    default: return 0;  // an RNN's backward needs only its states
  }
}

// One backward call: reads what ForwardArgs saved, ACCUMULATES (+=) into the gradient buffers.
struct BackwardArgs {
  Cell cell = Cell::Lstm;
  int64_t T = 0, B = 0, I = 0, H = 0;
  const float* x = nullptr;
  const float* w_ih = nullptr;      // (G*H,I)
  const float* w_hh = nullptr;      // (G*H,H)
  const int64_t* lengths = nullptr;
  const uint8_t* mask = nullptr;
  bool reverse = false;
  const float* gates = nullptr;
  const float* hs = nullptr;
  const float* cs = nullptr;
  const float* dy = nullptr;      // (T,B,H) or null
  const float* dh_n = nullptr;    // (B,H) or null
  const float* dc_n = nullptr;    // (B,H) or null
  // dx and the weight gradients are written (their memory may be uninitialised); dh0, dc0 and
  // the bias gradients are added to (zero them first).
  float* dx = nullptr;            // (T,B,I)
  float* dh0 = nullptr;           // (B,H)
  float* dc0 = nullptr;           // (B,H) LSTM
  float* dw_ih = nullptr;         // (G*H,I)
  float* dw_hh = nullptr;         // (G*H,H)
  float* db_ih = nullptr;         // (G*H) or null
  float* db_hh = nullptr;         // (G*H) or null
  float* dh_seq = nullptr;        // (T,B,H) or null
};

// The vector math functions the kernels use, exposed one at a time for the accuracy tests.
enum class VMath : int { Exp, Sigmoid, Tanh };

// The kernels one ISA provides. `packed` is a buffer of layout.total floats.
struct Kernels {
  Isa isa;
  int64_t panel_width;  // U
  // Fills a zeroed buffer; biases may be null.
  void (*pack)(const PackedLayout& layout, float* packed, const float* w_ih, const float* w_hh,
               const float* b_ih, const float* b_hh);
  Status (*forward)(const ForwardArgs& a, const PackedLayout& layout, const float* packed,
                    int nthreads, const CancelHook& cancel);
  Status (*backward)(const BackwardArgs& a, int nthreads, const CancelHook& cancel);
  // One valid step for B rows: x_t (B,I), h (B,H), c (B,H) LSTM only. h_out may be h and c_out
  // may be c (updated in place); no other overlap.
  Status (*step)(const PackedLayout& layout, const float* packed, int64_t B, const float* x_t,
                 const float* h, const float* c, float* h_out, float* c_out, int nthreads);
  // y = fn(x) over n floats with this ISA's vector code, whole vectors then a masked tail:
  // x (n), y (n). For tests; single-threaded.
  void (*vmath)(VMath fn, const float* x, float* y, int64_t n);
  // C (M, N) = A (M, K) * B (K, N) on this library's threads: element (m, k) of A at
  // a[m*rsa + k*csa], (k, n) of B at b[k*rsb + n*csb], C row-major with leading dimension ldc.
  // Each element of C is computed by one thread in a fixed order: the same bits for any count.
  // (The layers' dense products use it, so they do not wake a BLAS library's own threads,
  // whose spinning after each call takes the cores from the recurrent kernels.)
  Status (*gemm)(int64_t M, int64_t N, int64_t K, const float* a, int64_t rsa, int64_t csa,
                 const float* b, int64_t rsb, int64_t csb, float* c, int64_t ldc, int nthreads);
};

// ---- dispatch.cpp -----------------------------------------------------------------------
const char* isa_name(Isa isa);
bool isa_from_name(const char* name, Isa* out);
std::vector<Isa> available_isas();  // best first
Isa current_isa();
void set_isa(Isa isa);              // throws std::invalid_argument if this CPU lacks it
const Kernels& kernels_for(Isa isa);
inline const Kernels& kernels() { return kernels_for(current_isa()); }

// ---- threads.cpp ------------------------------------------------------------------------
int get_num_threads();          // the process-wide setting
void set_num_threads(int n);    // n >= 1
int effective_num_threads();    // 1 in a forked child, else get_num_threads()
int default_num_threads();      // OMP_NUM_THREADS, else the usable cores

}  // namespace rnnkit
