// runTransfers: every task runs once, never more at a time than allowed; after a failure no
// further task starts and the first failure, with its task, is what is reported.
#include "storage/parallel_transfers.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace aw::test {
namespace {

TEST(ParallelTransfers, RunsEveryTaskOnceWithinTheBound) {
    constexpr std::size_t kTasks = 200, kParallel = 6;
    std::vector<std::atomic<int>> runs(kTasks);
    std::atomic<int> running{0}, most{0};
    const auto batch = runTransfers(kTasks, kParallel, [&](std::size_t i) {
        const int now = ++running;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));  // work that takes time
        ++runs[i];
        --running;
    });
    EXPECT_TRUE(batch.ok());
    for (std::size_t i = 0; i < kTasks; ++i) {
        EXPECT_EQ(runs[i], 1) << i;
        EXPECT_EQ(batch.outcomes[i], TransferOutcome::Done) << i;
    }
    EXPECT_LE(most.load(), static_cast<int>(kParallel));
    EXPECT_GT(most.load(), 1) << "the tasks never overlapped";
}

TEST(ParallelTransfers, OneAtATimeRunsInOrderOnTheCallersThread) {
    std::vector<std::size_t> order;
    const auto caller = std::this_thread::get_id();
    bool elsewhere = false;
    runTransfers(5, 1, [&](std::size_t i) {
        order.push_back(i);
        elsewhere = elsewhere || std::this_thread::get_id() != caller;
    });
    EXPECT_EQ(order, (std::vector<std::size_t>{0, 1, 2, 3, 4}));
    EXPECT_FALSE(elsewhere);
    EXPECT_TRUE(runTransfers(0, 8, [](std::size_t) { FAIL(); }).ok());
}

TEST(ParallelTransfers, AFailureStopsNewTasks) {
    const auto batch = runTransfers(10, 1, [](std::size_t i) {
        if (i == 3) throw std::runtime_error("task 3 broke");
    });
    ASSERT_FALSE(batch.ok());
    EXPECT_EQ(batch.firstFailed, 3u);
    EXPECT_EQ(batch.outcomes,
              (std::vector<TransferOutcome>{
                  TransferOutcome::Done, TransferOutcome::Done, TransferOutcome::Done,
                  TransferOutcome::Failed, TransferOutcome::NotStarted, TransferOutcome::NotStarted,
                  TransferOutcome::NotStarted, TransferOutcome::NotStarted,
                  TransferOutcome::NotStarted, TransferOutcome::NotStarted}));
}

TEST(ParallelTransfers, TasksRunningBesideAFailureFinish) {
    // Task 3 fails once tasks 0..2 and 4 have started (each on its own thread; they wait
    // for the failure before they end).
    std::mutex mutex;
    std::condition_variable changed;
    int started = 0;
    bool failedYet = false;
    const auto batch = runTransfers(5, 5, [&](std::size_t i) {
        std::unique_lock lock(mutex);
        if (i == 3) {
            ASSERT_TRUE(
                changed.wait_for(lock, std::chrono::seconds(10), [&] { return started == 4; }));
            failedYet = true;
            changed.notify_all();
            throw std::runtime_error("task 3 broke");
        }
        ++started;
        changed.notify_all();
        ASSERT_TRUE(changed.wait_for(lock, std::chrono::seconds(10), [&] { return failedYet; }));
    });
    ASSERT_FALSE(batch.ok());
    EXPECT_EQ(batch.firstFailed, 3u);
    for (std::size_t i : {0, 1, 2, 4}) EXPECT_EQ(batch.outcomes[i], TransferOutcome::Done) << i;
    EXPECT_EQ(batch.outcomes[3], TransferOutcome::Failed);
    try {
        std::rethrow_exception(batch.firstError);
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "task 3 broke");
    }
}

}  // namespace
}  // namespace aw::test
