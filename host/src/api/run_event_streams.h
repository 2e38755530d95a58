// Live event streams (SSE) of runs, fanned out: when the EventHub says a run has new events,
// one pump takes them (from what the hub handed over, else from the store) once, frames each
// once, and queues the same bytes on every subscriber's connection. Pumps run on a few threads of
// their own and never wait for a client: a subscriber that cannot keep up is dropped by the HTTP
// server (it comes back with Last-Event-ID), so thousands of streams cost buffers, not threads.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent_worker/core/run_store.h"
#include "http/router.h"

namespace aw {

class EventHub;
class EventLatency;

struct RunEventStreamOptions {
    int maxStreams = 10000;                      //!< open streams at once; more get 503
    std::chrono::milliseconds keepAlive{15000};  //!< a comment after this long without an event
    int pumpThreads = 2;
    std::size_t readBatch = 500;  //!< events read from the store at a time
    //! A followed run's newest events kept as the hub handed them over, so its streams need
    //! not read back from the store what was just written to it.
    std::size_t recentEvents = 1024;
    //! Times events from their callback to stored and to the streams (none when null).
    EventLatency* latency = nullptr;
};

class RunEventStreams {
public:
    RunEventStreams(RunStore& store, EventHub& hub, RunEventStreamOptions options);
    ~RunEventStreams();
    RunEventStreams(const RunEventStreams&) = delete;
    RunEventStreams& operator=(const RunEventStreams&) = delete;

    //! The SSE answer for `runId`'s events after `afterSeq`. Throws ApiError 503
    //! `too_many_streams` when every slot is taken, `shutting_down` once closed.
    HttpResponse open(const std::string& runId, std::int64_t afterSeq);
    //! Every followed run looks in the store for what it has not had (events were stored
    //! where no wake-up said so: another host's, while its notices were lost).
    void wakeAll();
    //! Ends every stream and refuses new ones: the host is stopping.
    void close();
    int openStreams() const { return open_->load(); }

private:
    using Clock = std::chrono::steady_clock;
    struct Slot;
    struct Subscriber {
        std::shared_ptr<ResponseStream> stream;
        std::int64_t last = 0;  //!< seq of the last event it was sent
        Clock::time_point lastWrite;
        std::shared_ptr<Slot> slot;
    };
    struct RunStreams {
        std::vector<Subscriber> subscribers;
        bool queued = false;   //!< waiting for a pump thread
        bool pumping = false;  //!< a pump thread has its subscribers now
        bool again = false;    //!< woken while pumping: pump once more
        //! The newest events as published, seqs without a gap; older ones are in the store.
        std::deque<EventText> recent;
        //! Woken without events (a new subscriber, a status change, a gap): what is new may
        //! be only in the store.
        bool readStore = true;
    };

    void subscribe(const std::string& runId, Subscriber subscriber);
    //! Schedules a pump of the run, unless one is scheduled already. `events`: those just
    //! stored, kept for the pump when somebody follows the run.
    void wake(const std::string& runId, const std::vector<StoredEvent>& events = {});
    //! Adds published events to the run's recent ones (under mutex_).
    void remember(RunStreams& run, std::vector<EventText> events) const;
    //! The events after `from` (at most readBatch): from the recent ones when they reach back
    //! that far, else from the store; none when nothing is new. `readStore`: ask the store
    //! even when the recent events say nothing is new.
    std::vector<EventText> eventsAfter(const std::string& runId, std::int64_t from, bool readStore);
    void pumpLoop();
    void keepAliveLoop();
    //! Sends each subscriber what it has not had yet; ends the streams of a finished run
    //! once they have its last event; keeps quiet streams alive.
    void pump(const std::string& runId, std::vector<Subscriber>& subscribers, bool readStore,
              bool& retry);
    //! The last event read (none when there was nothing new).
    std::optional<EventText> deliverNew(const std::string& runId,
                                        std::vector<Subscriber>& subscribers, bool readStore);
    void endIfFinished(const std::string& runId, std::vector<Subscriber>& subscribers,
                       const std::optional<EventText>& lastDelivered, bool& retry);

    RunStore& store_;
    EventHub& hub_;
    RunEventStreamOptions options_;
    std::shared_ptr<std::atomic<int>> open_ = std::make_shared<std::atomic<int>>(0);
    ResponseStream::Chunk keepAliveChunk_;

    std::mutex mutex_;
    std::condition_variable changed_;  //!< pump threads: a run is ready
    std::condition_variable closing_;  //!< the keep-alive thread: close() was called
    std::map<std::string, RunStreams> runs_;
    std::deque<std::string> ready_;
    bool closed_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace aw
