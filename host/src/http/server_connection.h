// The HTTP server's own parts, shared by nothing else: what other threads post to its I/O
// thread (the Mailbox), the ResponseStream an event stream writes through, and a connection
// as the I/O thread keeps it.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "http/request_parser.h"
#include "http/response_stream.h"

namespace aw::server {

using Clock = std::chrono::steady_clock;
using Bytes = std::shared_ptr<const std::string>;

struct Posted {
    enum class Kind { Answer, Data, End, Close, Command };
    std::uint64_t connection = 0;
    Kind kind = Kind::Answer;
    Bytes bytes;
    bool keepAlive = false;
    std::shared_ptr<class StreamSink> stream;  //!< an Answer that starts an event stream
    std::function<void()> command;             //!< runs on the I/O thread
};

//! Where other threads leave work for the I/O thread; outlives the server for the streams
//! that still hold it, which then write into nothing.
class Mailbox {
public:
    explicit Mailbox(int wakeFd) : wakeFd_(wakeFd) {}
    void post(Posted posted) {
        std::lock_guard lock(mutex_);
        if (closed_) return;
        const bool wasEmpty = items_.empty();
        items_.push_back(std::move(posted));
        if (wasEmpty) {
            const std::uint64_t one = 1;
            [[maybe_unused]] const auto written = ::write(wakeFd_, &one, sizeof one);
        }
    }
    std::vector<Posted> takeAll() {
        std::lock_guard lock(mutex_);
        std::vector<Posted> taken;
        taken.swap(items_);
        return taken;
    }
    void close() {
        std::lock_guard lock(mutex_);
        closed_ = true;
        items_.clear();
    }

private:
    std::mutex mutex_;
    std::vector<Posted> items_;
    int wakeFd_;
    bool closed_ = false;
};

class StreamSink : public ResponseStream {
public:
    StreamSink(std::shared_ptr<Mailbox> mailbox, std::uint64_t connection, std::size_t cap)
        : mailbox_(std::move(mailbox)), connection_(connection), cap_(cap) {}

    bool write(const Chunk& chunk) override {
        if (!open_) return false;
        if (unsent_.fetch_add(chunk->size()) + chunk->size() > cap_) {
            // The reader fell too far behind: it reconnects with Last-Event-ID instead.
            if (open_.exchange(false))
                mailbox_->post({connection_, Posted::Kind::Close, {}, false, {}, {}});
            return false;
        }
        mailbox_->post({connection_, Posted::Kind::Data, chunk, false, {}, {}});
        return true;
    }
    void end() override {
        if (open_.exchange(false))
            mailbox_->post({connection_, Posted::Kind::End, {}, false, {}, {}});
    }
    bool open() const override { return open_; }

    //! The I/O thread's side: the connection is gone, or sent `bytes` of this stream.
    void closed() { open_ = false; }
    void sent(std::size_t bytes) { unsent_ -= bytes; }

private:
    std::shared_ptr<Mailbox> mailbox_;
    std::uint64_t connection_;
    std::size_t cap_;
    std::atomic<bool> open_{true};
    std::atomic<std::size_t> unsent_{0};
};

struct Segment {
    Bytes bytes;
    std::size_t offset = 0;
    bool streamed = false;  //!< counts against the stream's buffer
};

enum class Phase { Reading, Handling, Streaming };

struct Connection {
    Connection(std::uint64_t id, int fd, RequestLimits limits) : id(id), fd(fd), parser(limits) {}
    std::uint64_t id;
    int fd;
    std::string address;  //!< the client's address bytes, for the per-address cap
    unsigned short clientPort = 0;
    RequestParser parser;
    Phase phase = Phase::Reading;
    bool requestBegun = false;
    bool closeWhenSent = false;
    bool peerDone = false;       //!< the client closed its side: it sends no more requests
    bool inProgress = false;     //!< a request begun and not yet answered (counted in the server's)
    Clock::time_point deadline;  //!< while Reading: idle or whole-request deadline
    Clock::time_point lastProgress;  //!< bytes last went out (or began to wait)
    std::deque<Segment> out;
    std::size_t outBytes = 0;
    std::shared_ptr<StreamSink> stream;
    std::uint32_t watching = 0;
};

}  // namespace aw::server
