// The SSE fan-out on its own (RunEventStreams with an in-memory store): events the hub hands
// over reach a run's streams without being read back from the store, and every event still
// arrives once and in order when publishers hand them over out of order, when a stream joins
// behind them, or when a wake-up carries no events.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "api/run_event_streams.h"
#include "run_path/run_path_doubles.h"
#include "runs/event_hub.h"
#include "support/run_events.h"

namespace aw {
namespace {

using namespace std::chrono_literals;

//! The store, counting the reads event streams make.
class CountingStore : public testing::InMemoryRunStore {
public:
    std::vector<EventText> eventTexts(const std::string& runId, std::int64_t afterSeq,
                                      std::size_t limit) override {
        ++reads;
        return RunStore::eventTexts(runId, afterSeq, limit);
    }
    std::atomic<int> reads{0};
};

//! A client connection that keeps what it was sent.
class RecordingStream : public ResponseStream {
public:
    bool write(const Chunk& chunk) override {
        std::lock_guard lock(mutex_);
        body_ += *chunk;
        return open_;
    }
    void end() override {
        std::lock_guard lock(mutex_);
        open_ = false;
    }
    bool open() const override {
        std::lock_guard lock(mutex_);
        return open_;
    }
    //! The `id:` of each event frame received, in order.
    std::vector<std::int64_t> ids() const {
        std::lock_guard lock(mutex_);
        return test::sseEventIds(body_);
    }
    //! Waits until the last event received is `seq`; false at the deadline.
    bool waitForLast(std::int64_t seq) const {
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (std::chrono::steady_clock::now() < deadline) {
            const auto got = ids();
            if (!got.empty() && got.back() >= seq) return true;
            std::this_thread::sleep_for(2ms);
        }
        return false;
    }

private:
    mutable std::mutex mutex_;
    std::string body_;
    bool open_ = true;
};

std::vector<std::int64_t> range(std::int64_t from, std::int64_t to) {
    std::vector<std::int64_t> seqs;
    for (auto seq = from; seq <= to; ++seq) seqs.push_back(seq);
    return seqs;
}

class RunEventStreamsTest : public ::testing::Test {
protected:
    void SetUp() override {
        NewRun run;
        run.runId = "r1";
        run.sessionId = "s1";
        run.provider = "claude-code";
        store.createRun(run);  // seq 1: run.queued
    }

    std::shared_ptr<RecordingStream> follow(std::int64_t afterSeq) {
        auto stream = std::make_shared<RecordingStream>();
        auto response = streams.open("r1", afterSeq);
        response.stream(stream);
        return stream;
    }
    //! Stores `count` events; the hub is told of them unless `publish` is false.
    std::vector<StoredEvent> append(int count, bool publish = true) {
        std::vector<NewEvent> events;
        for (int i = 0; i < count; ++i) {
            events.push_back(
                {"r1/e" + std::to_string(next++), "message.delta", {{"text", "hello"}}, 1});
        }
        auto stored = store.appendEvents("r1", events, {}, 1);
        if (publish) hub.publish("r1", stored);
        return stored;
    }

    CountingStore store;
    EventHub hub;
    RunEventStreams streams{store, hub, RunEventStreamOptions{.keepAlive = 3600s}};
    int next = 0;
};

TEST_F(RunEventStreamsTest, PublishedEventsReachTheStreamWithoutAStoreRead) {
    auto stream = follow(0);
    ASSERT_TRUE(stream->waitForLast(1));  // the catch-up, from the store
    append(3);
    ASSERT_TRUE(stream->waitForLast(4));
    const int readsAfterCatchUp = store.reads.load();
    for (int round = 0; round < 20; ++round) {
        append(5);
        ASSERT_TRUE(stream->waitForLast(4 + 5 * (round + 1)));
    }
    EXPECT_EQ(stream->ids(), range(1, 104));
    EXPECT_EQ(store.reads.load(), readsAfterCatchUp) << "live events were read back from the store";
}

TEST_F(RunEventStreamsTest, EventsHandedOverOutOfOrderArriveOnceInOrder) {
    auto stream = follow(0);
    ASSERT_TRUE(stream->waitForLast(1));
    append(2);
    ASSERT_TRUE(stream->waitForLast(3));
    // Seqs 4-6 are stored, but their publisher is slower than the one of 7-8.
    const auto slow = append(3, false);
    append(2);
    ASSERT_TRUE(stream->waitForLast(8));
    hub.publish("r1", slow);
    append(1);
    ASSERT_TRUE(stream->waitForLast(9));
    EXPECT_EQ(stream->ids(), range(1, 9));
}

TEST_F(RunEventStreamsTest, AStreamBehindTheRecentEventsCatchesUpFromTheStore) {
    auto early = follow(0);
    ASSERT_TRUE(early->waitForLast(1));
    append(10);
    ASSERT_TRUE(early->waitForLast(11));
    auto late = follow(3);
    append(2);
    ASSERT_TRUE(late->waitForLast(13));
    ASSERT_TRUE(early->waitForLast(13));
    EXPECT_EQ(late->ids(), range(4, 13));
    EXPECT_EQ(early->ids(), range(1, 13));
}

TEST_F(RunEventStreamsTest, AWakeUpWithoutEventsReadsTheStore) {
    auto stream = follow(0);
    ASSERT_TRUE(stream->waitForLast(1));
    append(2, false);  // stored by a path that hands nothing over
    hub.publish("r1");
    ASSERT_TRUE(stream->waitForLast(3));
    EXPECT_EQ(stream->ids(), range(1, 3));
}

TEST_F(RunEventStreamsTest, OnlyTheNewestEventsAreKept) {
    RunEventStreams small{store, hub, RunEventStreamOptions{.keepAlive = 3600s, .recentEvents = 4}};
    auto stream = std::make_shared<RecordingStream>();
    small.open("r1", 0).stream(stream);
    ASSERT_TRUE(stream->waitForLast(1));
    append(10);  // more than are kept: the stream reads the ones that fell out from the store
    ASSERT_TRUE(stream->waitForLast(11));
    EXPECT_EQ(stream->ids(), range(1, 11));
}

}  // namespace
}  // namespace aw
