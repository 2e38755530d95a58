// The HTTP server's handler threads: a bounded queue of jobs and the threads that run them
// in order, a job marked urgent ahead of the others.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace aw {

class HandlerPool {
public:
    HandlerPool(int threads, std::size_t maxQueued);
    ~HandlerPool();
    HandlerPool(const HandlerPool&) = delete;
    HandlerPool& operator=(const HandlerPool&) = delete;

    //! Queues `job` (at the front when `urgent`); false when `maxQueued` jobs wait already.
    bool post(std::function<void()> job, bool urgent);
    //! Waits for the jobs running now; jobs still queued are dropped. Idempotent.
    void stop();

private:
    void work();

    std::size_t maxQueued_;
    std::mutex mutex_;
    std::condition_variable ready_;
    std::deque<std::function<void()>> queue_;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace aw
