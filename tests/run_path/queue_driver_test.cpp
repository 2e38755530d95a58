// Step 2 of a run: claims under a lease, lease renewal, retries with backoff.
#include <gtest/gtest.h>

#include "agent_worker/core/runs/queue_driver.h"
#include "run_path/run_path_doubles.h"

namespace aw {
namespace {

using ::testing::_;
using ::testing::Return;
using std::chrono::milliseconds;
using testing::MockRunQueue;

QueueEntry entry(int attempts) {
    QueueEntry e;
    e.queueId = 7;
    e.runId = "run_1";
    e.attempts = attempts;
    return e;
}

class QueueDriverTest : public ::testing::Test {
protected:
    QueueDriverOptions options() {
        QueueDriverOptions o;
        o.hostId = "host-a";
        o.lease = milliseconds(30000);
        o.retry = Backoff{milliseconds(1000), milliseconds(8000), 0.2};
        return o;
    }
    ::testing::StrictMock<MockRunQueue> queue;
};

TEST_F(QueueDriverTest, ClaimsUnderThisHostsNameWithTheLease) {
    QueueDriver driver(options(), queue);
    EXPECT_CALL(queue, claim("host-a", 5000, 30000, 3)).WillOnce(Return(std::vector<QueueEntry>{entry(1)}));
    EXPECT_EQ(driver.claim(3, 5000).size(), 1u);
}

TEST_F(QueueDriverTest, AtStartTheLeasesThisHostHeldAreExpiredAndOthersAreLeftAlone) {
    QueueDriver driver(options(), queue);
    auto mine = entry(1);
    mine.lockedBy = "host-a";
    auto theirs = entry(1);
    theirs.queueId = 8;
    theirs.lockedBy = "host-b";
    EXPECT_CALL(queue, list(std::optional<QueueStatus>(QueueStatus::Claimed), _))
        .WillOnce(Return(std::vector<QueueEntry>{mine, theirs}));
    EXPECT_CALL(queue, extendLease(7, "host-a", 9999, 10000)).WillOnce(Return(true));
    driver.expireOwnLeases(10000);
}

TEST_F(QueueDriverTest, TheLeaseIsRenewedOnceAThirdOfItPassedAndALostLeaseIsReported) {
    QueueDriver driver(options(), queue);
    auto last = std::chrono::steady_clock::now();
    const auto start = last;
    EXPECT_TRUE(driver.keepLease(entry(1), last, start + milliseconds(9000), 100));
    EXPECT_EQ(last, start);
    EXPECT_CALL(queue, extendLease(7, "host-a", 100 + 30000, 100)).WillOnce(Return(true)).WillOnce(Return(false));
    EXPECT_TRUE(driver.keepLease(entry(1), last, start + milliseconds(10000), 100));
    EXPECT_EQ(last, start + milliseconds(10000));
    EXPECT_FALSE(driver.keepLease(entry(1), last, start + milliseconds(20001), 100));
}

TEST_F(QueueDriverTest, RetriesWaitTheBackoffOfTheirAttemptWithinTheJitter) {
    QueueDriver driver(options(), queue);
    std::int64_t availableAt = 0;
    EXPECT_CALL(queue, retryLater(7, "host-a", _, "worker_busy", 50000))
        .WillRepeatedly([&](auto, auto, std::int64_t at, auto, auto) {
            availableAt = at;
            return std::optional<QueueStatus>(QueueStatus::RetryWait);
        });
    EXPECT_EQ(driver.retryLater(entry(1), "worker_busy", 50000), QueueStatus::RetryWait);
    EXPECT_GE(availableAt, 50000 + 800);
    EXPECT_LE(availableAt, 50000 + 1200);
    driver.retryLater(entry(3), "worker_busy", 50000);
    EXPECT_GE(availableAt, 50000 + 3200);
    EXPECT_LE(availableAt, 50000 + 4800);
    driver.retryLater(entry(10), "worker_busy", 50000);
    EXPECT_LE(availableAt, 50000 + 9600);
}

TEST_F(QueueDriverTest, EntriesEndSucceededOrFinalFailedWithTheReason) {
    QueueDriver driver(options(), queue);
    EXPECT_CALL(queue, finish(7, "host-a", QueueStatus::Succeeded, "", 1)).WillOnce(Return(true));
    EXPECT_CALL(queue, finish(7, "host-a", QueueStatus::FinalFailed, "host lost mid-run", 2)).WillOnce(Return(true));
    driver.succeed(entry(1), 1);
    driver.failFinally(entry(1), "host lost mid-run", 2);
}

}  // namespace
}  // namespace aw
