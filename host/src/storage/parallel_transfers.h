// Runs a batch of object-store transfers (a workspace's uploads or downloads) a few at a
// time: each small request to S3 spends most of its time on the round trip, so thousands of
// files are moved many requests at once instead of one after the other.
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <vector>

namespace aw {

enum class TransferOutcome { NotStarted, Done, Failed };

struct TransferBatch {
    std::vector<TransferOutcome> outcomes;  //!< one per task, in the tasks' order
    std::exception_ptr firstError;          //!< the first failure in time; null when none
    std::size_t firstFailed = 0;            //!< the task that failed it
    bool ok() const { return !firstError; }
};

//! Runs `task(i)` for every i in [0, count) on at most `parallel` threads (the caller's
//! included). After a failure no further task starts, so the first error is reported
//! promptly; the tasks already running finish. Returns once every started task has ended.
TransferBatch runTransfers(std::size_t count, std::size_t parallel,
                           const std::function<void(std::size_t)>& task);

}  // namespace aw
