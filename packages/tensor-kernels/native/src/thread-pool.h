// The addon's one piece of global state: a pool of worker threads (threads − 1 workers; the calling thread is the
// last worker), each with its own scratch buffer, plus one shared scratch buffer.
//
// run(tasks, fn) calls fn(task, thread) for every task in [0, tasks) and returns when all are done. Tasks are
// claimed dynamically, so callers must give each task disjoint outputs: a result then never depends on which
// thread ran which task, and is the same for every thread count (deterministic).
//
// Workers spin for a short while after a job before sleeping (waking a sleeping thread costs ~50 µs here), so
// back-to-back kernel calls do not pay the wake-up each time.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>
#include <vector>

namespace projnative {

class ThreadPool {
 public:
  using TaskFn = void (*)(void* context, int task, int thread);

  static ThreadPool& instance();

  // Total threads including the caller, clamped to [1, 64]. Joins or starts workers as needed.
  void set_threads(int threads);
  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  void run(int tasks, TaskFn fn, void* context);

  template <class F>
  void run(int tasks, const F& f) {
    run(tasks, [](void* c, int task, int thread) { (*static_cast<const F*>(c))(task, thread); }, const_cast<F*>(&f));
  }

  // Scratch slots: GEMM packs into kPack; a kernel that calls GEMM keeps its own data in kWork.
  enum Slot { kPack = 0, kWork = 1, kSlots = 2 };

  // Scratch memory of `floats` floats (64-byte aligned) for thread `thread` (0 is the caller), kept between calls.
  // Only thread `thread` may use it, and only the pool's caller may grow a buffer that a parallel region uses.
  float* scratch(int thread, std::size_t floats, Slot slot = kPack);
  // A buffer shared by all threads (e.g. a packed B panel), kept between calls.
  float* shared_scratch(std::size_t floats, Slot slot = kPack);

  ~ThreadPool();

 private:
  ThreadPool();
  void stop_workers();
  void worker_loop(int thread, unsigned seen);
  void drain(int thread);

  struct Buffer {
    float* data = nullptr;
    std::size_t floats = 0;
  };
  static float* reserve(Buffer& buffer, std::size_t floats);

  std::vector<std::thread> workers_;
  std::vector<Buffer> scratch_;  // [thread · kSlots + slot]
  Buffer shared_[kSlots];

  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<unsigned> generation_{0};
  std::atomic<bool> stopping_{false};

  // The current job.
  TaskFn fn_ = nullptr;
  void* context_ = nullptr;
  int tasks_ = 0;
  std::atomic<int> next_{0};
  // Workers that have finished the current job; run() returns once all have, so no worker is ever still inside an
  // old job when the next one is set up.
  std::atomic<int> finished_{0};
};

}  // namespace projnative
