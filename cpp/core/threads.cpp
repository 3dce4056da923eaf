// Process-wide thread count. libgomp's omp_set_num_threads is per calling thread and would not
// reach other Python threads, so every parallel region passes this count as num_threads.
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <stdexcept>

#include "core.h"

namespace rnnkit {
namespace {

std::atomic<bool> g_forked{false};

// libgomp cannot be re-initialised in a fork()ed child: its first team would hang waiting for
// the parent's pool threads, which the child does not have. The child runs serial instead.
void mark_forked_child() { g_forked.store(true); }

int usable_cores() {
#ifdef __linux__
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
#endif
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

std::atomic<int>& thread_slot() {
  static std::atomic<int> slot{[] {
    pthread_atfork(nullptr, nullptr, mark_forked_child);
    return default_num_threads();
  }()};
  return slot;
}

}  // namespace

int default_num_threads() {
  if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    // OMP_NUM_THREADS may be a list ("4,2"): the first level is ours.
    char* end = nullptr;
    long n = std::strtol(env, &end, 10);
    if (end != env && n >= 1 && n <= 4096) return static_cast<int>(n);
  }
  return usable_cores();
}

int get_num_threads() { return thread_slot().load(std::memory_order_relaxed); }

void set_num_threads(int n) {
  if (n < 1) throw std::invalid_argument("the number of threads must be >= 1");
  thread_slot().store(n, std::memory_order_relaxed);
}

int effective_num_threads() { return g_forked.load() ? 1 : get_num_threads(); }

}  // namespace rnnkit

// C entry points for threadpoolctl's controller (rnnkit/_threadpool.py), found with ctypes.
extern "C" __attribute__((visibility("default"))) int rnnkit_get_num_threads() {
  return rnnkit::get_num_threads();
}
extern "C" __attribute__((visibility("default"))) void rnnkit_set_num_threads(int n) {
  if (n >= 1) rnnkit::set_num_threads(n);
}
