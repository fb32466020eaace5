// A stress test of the thread pool alone (npm run sanitize runs it under each sanitizer before the suite): many
// back-to-back jobs of 1–64 tasks, each task writing its own output slot and growing its own scratch buffer, with
// the thread count changed now and then. Every slot must hold this job's value afterwards: a task run twice, run
// for a stale job, or skipped shows up as a wrong slot; a race in the pool's protocol as a sanitizer report.
//
//   pool-stress [jobs = 200000] [threads = 2]      exit 1 on a wrong slot
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "../src/thread-pool.h"

int main(int argc, char** argv) {
  const long jobs = argc > 1 ? std::atol(argv[1]) : 200000;
  const int threads = argc > 2 ? std::atoi(argv[2]) : 2;
  projnative::ThreadPool& pool = projnative::ThreadPool::instance();
  pool.set_threads(threads);
  std::vector<long> slots(64, -1);
  long wrong = 0;
  unsigned seed = 1;
  for (long job = 0; job < jobs; job++) {
    seed = seed * 1103515245u + 12345u;  // a fixed LCG: the same task counts on every run
    const int tasks = 1 + static_cast<int>((seed >> 16) % 64);
    pool.run(tasks, [&](int task, int thread) {
      float* scratch = pool.scratch(thread, 16 + static_cast<std::size_t>(task % 7) * 64, projnative::ThreadPool::kWork);
      scratch[0] = static_cast<float>(task);
      slots[task] = job * 64 + task;
    });
    for (int task = 0; task < tasks; task++) wrong += slots[task] != job * 64 + task;
    if (job % 50000 == 49999) {  // restart the workers as setNativeThreads does
      pool.set_threads(threads + 1);
      pool.set_threads(threads);
    }
  }
  std::printf("pool-stress: %ld jobs on %d threads, %ld wrong slots\n", jobs, pool.threads(), wrong);
  return wrong == 0 ? 0 : 1;
}
