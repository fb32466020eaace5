// The addon's one piece of global state: a pool of worker threads (threads − 1 workers; the calling thread is the
// last worker), each with its own scratch buffer, plus one shared scratch buffer.
//
// run(tasks, fn) calls fn(task, thread) for every task in [0, tasks) and returns when all are done. Tasks are
// claimed dynamically, so callers must give each task disjoint outputs: a result then never depends on which
// thread ran which task, and is the same for every thread count (deterministic).
//
// Workers spin for a short while after a job before sleeping (waking a sleeping thread costs ~50 µs here), so
// back-to-back kernel calls do not pay the wake-up each time. The caller waits only for the job's tasks, never for
// a worker to show up: on a busy machine a descheduled worker simply takes no task (the caller runs them all).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
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

  static constexpr uint64_t kIndexMask = 0xffffffffu;
  static constexpr uint64_t kClosed = kIndexMask;  // the index of a job being set up: no task can be claimed

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

  // The current job. A task is claimed by a compare-and-swap on next_ = (job << 32) | next task index, so a worker
  // that read the fields of another job fails its claim and runs nothing; run() closes next_ (index kClosed) before
  // it rewrites the fields and opens it after, so no claim on the previous job's word can succeed meanwhile.
  std::atomic<TaskFn> fn_{nullptr};
  std::atomic<void*> context_{nullptr};
  std::atomic<int> tasks_{0};
  std::atomic<uint64_t> next_{0};
  std::atomic<int> done_{0};  // tasks of the current job completed
  uint64_t job_ = 0;          // caller-side job counter
};

}  // namespace projnative
