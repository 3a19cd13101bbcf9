// A minimal parallel loop for CPU-bound passes over independent items (documents, chunks).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <functional>
#include <thread>
#include <vector>

namespace acctl {

// How many workers a pass over `items` items should use: one for small inputs, where starting
// threads costs more than it saves; otherwise one per core, at most 8.
inline unsigned workers_for(size_t items, size_t min_items_per_worker) {
  if (items < 2 * min_items_per_worker) return 1;
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  return static_cast<unsigned>(std::min<size_t>({cores, 8u, items / min_items_per_worker}));
}

// Calls fn(worker, i) for every i in [0, count) on `workers` threads (the caller is worker 0).
// Items are handed out one at a time, so uneven items balance out.
inline void parallel_for(size_t count, unsigned workers,
                         const std::function<void(unsigned, size_t)>& fn) {
  if (workers <= 1) {
    for (size_t i = 0; i < count; ++i) fn(0, i);
    return;
  }
  std::atomic<size_t> next{0};
  auto work = [&](unsigned worker) {
    for (size_t i = next++; i < count; i = next++) fn(worker, i);
  };
  std::vector<std::thread> threads;
  for (unsigned w = 1; w < workers; ++w) threads.emplace_back(work, w);
  work(0);
  for (std::thread& t : threads) t.join();
}

}  // namespace acctl
