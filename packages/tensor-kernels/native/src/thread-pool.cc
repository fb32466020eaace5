#include "thread-pool.h"

#include <cstdlib>
#include <new>

namespace projnative {

namespace {

// One step of a spin-wait: a pause, and every 64th step a yield, so that on an oversubscribed machine the thread
// being waited for gets the core.
inline void cpu_relax(int step) {
  if ((step & 63) == 63) {
    std::this_thread::yield();
    return;
  }
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
  for (;;) {
    uint64_t claim = next_.load(std::memory_order_seq_cst);
    const TaskFn fn = fn_.load(std::memory_order_seq_cst);
    void* const context = context_.load(std::memory_order_seq_cst);
    const int tasks = tasks_.load(std::memory_order_seq_cst);
    const uint64_t task = claim & kIndexMask;  // kClosed while a job is being set up: never below tasks
    if (task >= static_cast<uint64_t>(tasks)) return;
    if (!next_.compare_exchange_weak(claim, claim + 1, std::memory_order_seq_cst)) continue;
    // The claim succeeded, so next_ was still this job's open word: fn, context and tasks, loaded after it and
    // before the CAS, are this job's (a newer job closes next_ before it writes them; see run()).
    fn(context, static_cast<int>(task), thread);
    done_.fetch_add(1, std::memory_order_release);
  }
}

void ThreadPool::run(int tasks, TaskFn fn, void* context) {
  if (tasks <= 0) return;
  if (workers_.empty() || tasks == 1) {
    for (int task = 0; task < tasks; task++) fn(context, task, 0);
    return;
  }
  // Close first: the previous job's word (its index at its task count) must stop being claimable before its fields
  // change. Otherwise a worker that read that word, then this job's larger task count, could win a CAS on the old
  // word and run task `old count` of this job's fn while the caller still sets it up — its done_ increment then
  // ends this job early, and the caller returns while that task still runs on a dead stack frame (the crashes of
  // issue 6: SIGSEGV on a worker inside a GEMM task, wasm heap corruption). seq_cst orders close → fields → open
  // against the workers' loads (drain).
  const uint64_t job = ++job_;
  next_.store((job << 32) | kClosed, std::memory_order_seq_cst);
  fn_.store(fn, std::memory_order_seq_cst);
  context_.store(context, std::memory_order_seq_cst);
  tasks_.store(tasks, std::memory_order_seq_cst);
  done_.store(0, std::memory_order_seq_cst);
  next_.store(job << 32, std::memory_order_seq_cst);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  drain(0);
  for (int step = 0; done_.load(std::memory_order_acquire) < tasks; step++) cpu_relax(step);
}

void ThreadPool::worker_loop(int thread, unsigned seen) {
  for (;;) {
    int spins = 0;
    while (generation_.load(std::memory_order_acquire) == seen && spins < kSpinIterations) {
      cpu_relax(spins++);
    }
    if (generation_.load(std::memory_order_acquire) == seen) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stopping_.load()) return;
    drain(thread);
  }
}

}  // namespace projnative
