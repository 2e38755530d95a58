#include "api/run_event_streams.h"

#include <algorithm>

#include "agent_worker/core/event_type.h"
#include "agent_worker/core/repositories.h"
#include "metrics/event_latency.h"
#include "runs/event_hub.h"

namespace aw {

//! A stream slot: taken when a stream is answered, given back when it goes, whether or not
//! it ever subscribed (a HEAD never does).
struct RunEventStreams::Slot {
    explicit Slot(std::shared_ptr<std::atomic<int>> count) : count(std::move(count)) {}
    ~Slot() { --*count; }
    std::shared_ptr<std::atomic<int>> count;
};

namespace {

std::string frameOf(const EventText& event) {
    std::string text = "id: " + std::to_string(event.seq) + "\nevent: " + event.type + "\ndata: ";
    text += event.json;
    text += "\n\n";
    return text;
}

}  // namespace

RunEventStreams::RunEventStreams(RunStore& store, EventHub& hub, RunEventStreamOptions options)
    : store_(store), hub_(hub), options_(options), keepAliveChunk_(ResponseStream::chunk(": keep-alive\n\n")) {
    hub_.setListener([this](const std::string& runId, const std::vector<StoredEvent>& events) {
        if (options_.latency && !events.empty()) options_.latency->stored(runId, events.back().seq);
        wake(runId, events);
    });
    for (int i = 0; i < std::max(1, options_.pumpThreads); ++i) threads_.emplace_back([this] { pumpLoop(); });
    threads_.emplace_back([this] { keepAliveLoop(); });
}

RunEventStreams::~RunEventStreams() {
    hub_.setListener(nullptr);
    close();
    for (auto& thread : threads_) thread.join();
}

HttpResponse RunEventStreams::open(const std::string& runId, std::int64_t afterSeq) {
    {
        std::lock_guard lock(mutex_);
        if (closed_) {
            throw ApiError(503, {"shutting_down", "agent-host is shutting down",
                                 "reconnect with Last-Event-ID to another host, or once it is back"});
        }
    }
    if (open_->fetch_add(1) >= options_.maxStreams) {
        --*open_;
        throw ApiError(503, {"too_many_streams",
                             "all " + std::to_string(options_.maxStreams) + " event streams are in use",
                             "retry later, or read GET /v1/runs/{rid}/events as JSON with ?after="});
    }
    auto slot = std::make_shared<Slot>(open_);
    HttpResponse response;
    response.contentType = "text/event-stream";
    response.headers = {{"Cache-Control", "no-cache"}, {"X-Accel-Buffering", "no"}};
    response.stream = [this, runId, afterSeq, slot](std::shared_ptr<ResponseStream> stream) {
        if (!stream->write(ResponseStream::chunk("retry: 1000\n\n"))) return;
        subscribe(runId, {std::move(stream), afterSeq, Clock::now(), slot});
    };
    return response;
}

void RunEventStreams::wakeAll() {
    {
        std::lock_guard lock(mutex_);
        for (auto& [runId, run] : runs_) {
            run.readStore = true;
            if (run.pumping) {
                run.again = true;
            } else if (!run.queued) {
                run.queued = true;
                ready_.push_back(runId);
            }
        }
    }
    changed_.notify_all();
}

void RunEventStreams::close() {
    std::map<std::string, RunStreams> ending;
    {
        std::lock_guard lock(mutex_);
        if (closed_) return;
        closed_ = true;
        ending.swap(runs_);
        ready_.clear();
    }
    changed_.notify_all();
    closing_.notify_all();
    // Streams a pump holds right now end when it hands them back (closed_ is set).
    for (auto& [runId, run] : ending) {
        for (auto& subscriber : run.subscribers) subscriber.stream->end();
    }
}

void RunEventStreams::subscribe(const std::string& runId, Subscriber subscriber) {
    {
        std::lock_guard lock(mutex_);
        if (closed_) {
            subscriber.stream->end();
            return;
        }
        runs_[runId].subscribers.push_back(std::move(subscriber));
    }
    wake(runId);
}

void RunEventStreams::wake(const std::string& runId, const std::vector<StoredEvent>& events) {
    std::vector<EventText> texts;
    if (!events.empty()) {
        {
            std::lock_guard lock(mutex_);
            if (!runs_.contains(runId)) return;  // nobody follows this run
        }
        texts.reserve(events.size());
        for (const auto& event : events) {
            texts.push_back(
                {event.seq, event.type,
                 event.jsonText(!event.dataText.empty()
                                    ? event.dataText
                                    : event.data.dump(-1, ' ', false,
                                                      nlohmann::json::error_handler_t::replace))});
        }
    }
    {
        std::lock_guard lock(mutex_);
        const auto it = runs_.find(runId);
        if (it == runs_.end()) return;  // nobody follows this run
        RunStreams& run = it->second;
        if (texts.empty())
            run.readStore = true;
        else
            remember(run, std::move(texts));
        if (run.pumping) {
            run.again = true;
            return;
        }
        if (run.queued) return;
        run.queued = true;
        ready_.push_back(runId);
    }
    changed_.notify_one();
}

void RunEventStreams::remember(RunStreams& run, std::vector<EventText> events) const {
    // Publishers of one run may hand over out of order (a host event beside the run's
    // loop): events that do not follow the recent ones replace them, and what lies between
    // is read from the store.
    if (!run.recent.empty() && events.front().seq != run.recent.back().seq + 1) {
        if (events.back().seq <= run.recent.back().seq) return;
        run.recent.clear();
    }
    std::move(events.begin(), events.end(), std::back_inserter(run.recent));
    while (run.recent.size() > options_.recentEvents) run.recent.pop_front();
}

std::vector<EventText> RunEventStreams::eventsAfter(const std::string& runId, std::int64_t from,
                                                    bool readStore) {
    {
        std::lock_guard lock(mutex_);
        const auto it = runs_.find(runId);
        if (it != runs_.end() && !it->second.recent.empty() &&
            it->second.recent.front().seq <= from + 1) {
            const auto& recent = it->second.recent;
            std::vector<EventText> events;
            const auto skip = static_cast<std::size_t>(from + 1 - recent.front().seq);
            if (skip < recent.size()) {
                const auto first = recent.begin() + static_cast<std::ptrdiff_t>(skip);
                const auto count = std::min(options_.readBatch, recent.size() - skip);
                events.assign(first, first + static_cast<std::ptrdiff_t>(count));
                return events;
            }
            if (!readStore) return events;  // it has had every event published
        }
    }
    return store_.eventTexts(runId, from, options_.readBatch);
}

void RunEventStreams::pumpLoop() {
    std::unique_lock lock(mutex_);
    while (true) {
        changed_.wait(lock, [this] { return closed_ || !ready_.empty(); });
        if (closed_) return;
        const std::string runId = std::move(ready_.front());
        ready_.pop_front();
        RunStreams& run = runs_[runId];
        run.queued = false;
        run.pumping = true;
        const bool readStore = std::exchange(run.readStore, false);
        std::vector<Subscriber> subscribers;
        subscribers.swap(run.subscribers);
        lock.unlock();

        bool retry = false;
        pump(runId, subscribers, readStore, retry);

        lock.lock();
        if (closed_) {
            for (auto& subscriber : subscribers) subscriber.stream->end();
            return;
        }
        RunStreams& after = runs_[runId];  // still there: only pumps erase runs
        after.pumping = false;
        // Subscribers that came meanwhile stay after those that were here before.
        subscribers.insert(subscribers.end(), std::make_move_iterator(after.subscribers.begin()),
                           std::make_move_iterator(after.subscribers.end()));
        after.subscribers.swap(subscribers);
        if (retry) after.readStore = true;
        if (after.again || retry) {
            after.again = false;
            if (!after.subscribers.empty()) {
                after.queued = true;
                ready_.push_back(runId);
                changed_.notify_one();
            }
        }
        if (after.subscribers.empty() && !after.queued) runs_.erase(runId);
    }
}

void RunEventStreams::keepAliveLoop() {
    std::unique_lock lock(mutex_);
    const auto every = std::max(std::chrono::milliseconds(50), options_.keepAlive / 2);
    while (!closing_.wait_for(lock, every, [this] { return closed_; })) {
        // Quiet streams get their comment, and a finished run whose end was not woken for
        // (its status changed after its last event) closes its streams here.
        const auto quietSince = Clock::now() - options_.keepAlive;
        for (auto& [runId, run] : runs_) {
            const bool quiet = std::any_of(run.subscribers.begin(), run.subscribers.end(),
                                           [&](const Subscriber& s) { return s.lastWrite <= quietSince; });
            if (quiet && !run.queued && !run.pumping) {
                run.queued = true;
                run.readStore = true;  // also what a pump could not read while the store was away
                ready_.push_back(runId);
            }
        }
        if (!ready_.empty()) changed_.notify_all();
    }
}

void RunEventStreams::pump(const std::string& runId, std::vector<Subscriber>& subscribers,
                           bool readStore, bool& retry) {
    try {
        const auto lastDelivered = deliverNew(runId, subscribers, readStore);
        endIfFinished(runId, subscribers, lastDelivered, retry);
    } catch (const StoreUnavailableError&) {
        retry = false;  // the database is away: the keep-alive pass tries again later
    }
    const auto now = Clock::now();
    for (auto& subscriber : subscribers) {
        if (now - subscriber.lastWrite >= options_.keepAlive && subscriber.stream->write(keepAliveChunk_))
            subscriber.lastWrite = now;
    }
    std::erase_if(subscribers, [](const Subscriber& s) { return !s.stream->open(); });
}

std::optional<EventText> RunEventStreams::deliverNew(const std::string& runId,
                                                     std::vector<Subscriber>& subscribers,
                                                     bool readStore) {
    std::optional<EventText> lastRead;
    while (!subscribers.empty()) {
        std::int64_t from = subscribers.front().last;
        for (const auto& subscriber : subscribers) from = std::min(from, subscriber.last);
        const auto events = eventsAfter(runId, from, readStore);
        if (events.empty()) return lastRead;
        lastRead = events.back();
        std::vector<std::string> frames;
        frames.reserve(events.size());
        for (const auto& event : events) frames.push_back(frameOf(event));
        // Subscribers that have had the same events get the same bytes: one chunk for all of
        // them, framed once (usually every subscriber is at the same place).
        std::map<std::size_t, ResponseStream::Chunk> chunkFrom;
        const auto now = Clock::now();
        for (auto& subscriber : subscribers) {
            const auto first = static_cast<std::size_t>(
                std::upper_bound(events.begin(), events.end(), subscriber.last,
                                 [](std::int64_t seq, const EventText& event) { return seq < event.seq; }) -
                events.begin());
            if (first == events.size()) continue;
            auto& chunk = chunkFrom[first];
            if (!chunk) {
                std::string text;
                for (std::size_t i = first; i < frames.size(); ++i) text += frames[i];
                chunk = ResponseStream::chunk(text);
            }
            if (!subscriber.stream->write(chunk)) continue;
            subscriber.last = events.back().seq;
            subscriber.lastWrite = now;
        }
        if (options_.latency) options_.latency->streamed(runId, events.back().seq);
        std::erase_if(subscribers, [](const Subscriber& s) { return !s.stream->open(); });
        if (events.size() < options_.readBatch) return lastRead;
    }
    return lastRead;
}

void RunEventStreams::endIfFinished(const std::string& runId, std::vector<Subscriber>& subscribers,
                                    const std::optional<EventText>& lastDelivered, bool& retry) {
    if (subscribers.empty()) return;
    // A run's terminal event is its last: when events came, they say whether it ended, and
    // the run need not be read on every wake-up. Only a pump that found nothing new (a
    // stream of a finished run opened at its end, a keep-alive pass) asks the store.
    std::int64_t last = 0;
    if (lastDelivered) {
        const auto type = parseEventType(lastDelivered->type);
        if (!type || !isTerminal(*type)) return;
        last = lastDelivered->seq;
    } else {
        const auto run = store_.findRun(runId);
        if (run && !isTerminal(run->status)) return;
        last = run ? store_.lastSeq(runId) : 0;
    }
    for (auto& subscriber : subscribers) {
        if (subscriber.last >= last) subscriber.stream->end();
        else retry = true;  // its last events were stored after this pump read: once more
    }
    std::erase_if(subscribers, [](const Subscriber& s) { return !s.stream->open(); });
}

}  // namespace aw
