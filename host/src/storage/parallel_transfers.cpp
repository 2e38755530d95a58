#include "storage/parallel_transfers.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <system_error>
#include <thread>

namespace aw {

TransferBatch runTransfers(std::size_t count, std::size_t parallel,
                           const std::function<void(std::size_t)>& task) {
    TransferBatch batch;
    batch.outcomes.assign(count, TransferOutcome::NotStarted);
    std::atomic<std::size_t> next{0};
    std::atomic<bool> failed{false};
    std::mutex errorMutex;
    auto work = [&] {
        while (!failed.load()) {
            const std::size_t i = next.fetch_add(1);
            if (i >= count) return;
            try {
                task(i);
                batch.outcomes[i] = TransferOutcome::Done;
            } catch (...) {
                batch.outcomes[i] = TransferOutcome::Failed;
                std::lock_guard lock(errorMutex);
                if (!batch.firstError) {
                    batch.firstError = std::current_exception();
                    batch.firstFailed = i;
                }
                failed = true;
            }
        }
    };
    std::vector<std::jthread> helpers;
    const std::size_t threads = std::max<std::size_t>(1, std::min(parallel, count));
    for (std::size_t i = 1; i < threads; ++i) {
        try {
            helpers.emplace_back(work);
        } catch (const std::system_error&) {
            break;  // no more threads to be had: fewer of them do the work
        }
    }
    work();
    helpers.clear();  // joins
    return batch;
}

}  // namespace aw
