#include "thread-pool.h"

#include <cstdlib>
#include <new>

namespace projnative {

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

// Iterations a worker spins on the job counter before sleeping (~100 µs of pauses on x86).
constexpr int kSpinIterations = 1 << 14;

}  // namespace

ThreadPool& ThreadPool::instance() {
  static ThreadPool pool;
  return pool;
}

ThreadPool::ThreadPool() : scratch_(kSlots) {
  unsigned hw = std::thread::hardware_concurrency();
  set_threads(hw == 0 ? 1 : static_cast<int>(hw));
}

ThreadPool::~ThreadPool() {
  stop_workers();
  for (Buffer& b : scratch_) std::free(b.data);
  for (Buffer& b : shared_) std::free(b.data);
}

void ThreadPool::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_.store(true);
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
  workers_.clear();
  stopping_.store(false);
}

void ThreadPool::set_threads(int threads) {
  if (threads < 1) threads = 1;
  if (threads > 64) threads = 64;
  if (threads == this->threads()) return;
  stop_workers();
  if (scratch_.size() < static_cast<std::size_t>(threads) * kSlots) scratch_.resize(threads * kSlots);
  // A worker starts from the generation of now: one that reads it later could miss the first job and hang run().
  const unsigned seen = generation_.load();
  for (int t = 1; t < threads; t++) workers_.emplace_back([this, t, seen] { worker_loop(t, seen); });
}

float* ThreadPool::reserve(Buffer& buffer, std::size_t floats) {
  if (buffer.floats < floats) {
    std::free(buffer.data);
    std::size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
    buffer.data = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (buffer.data == nullptr) throw std::bad_alloc();
    buffer.floats = floats;
  }
  return buffer.data;
}

float* ThreadPool::scratch(int thread, std::size_t floats, Slot slot) {
  return reserve(scratch_[thread * kSlots + slot], floats);
}

float* ThreadPool::shared_scratch(std::size_t floats, Slot slot) { return reserve(shared_[slot], floats); }

void ThreadPool::drain(int thread) {
  for (int task; (task = next_.fetch_add(1, std::memory_order_relaxed)) < tasks_;) {
    fn_(context_, task, thread);
  }
}

void ThreadPool::run(int tasks, TaskFn fn, void* context) {
  if (tasks <= 0) return;
  if (workers_.empty() || tasks == 1) {
    for (int task = 0; task < tasks; task++) fn(context, task, 0);
    return;
  }
  fn_ = fn;
  context_ = context;
  tasks_ = tasks;
  next_.store(0, std::memory_order_relaxed);
  finished_.store(0, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  drain(0);
  const int workers = static_cast<int>(workers_.size());
  while (finished_.load(std::memory_order_acquire) < workers) cpu_relax();
}

void ThreadPool::worker_loop(int thread, unsigned seen) {
  for (;;) {
    int spins = 0;
    while (generation_.load(std::memory_order_acquire) == seen && spins < kSpinIterations) {
      cpu_relax();
      spins++;
    }
    if (generation_.load(std::memory_order_acquire) == seen) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stopping_.load()) return;
    drain(thread);
    finished_.fetch_add(1, std::memory_order_release);
  }
}

}  // namespace projnative
