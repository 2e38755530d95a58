#include "http/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <vector>

#include "http/handler_pool.h"
#include "http/response_wire.h"
#include "http/router.h"
#include "http/server_connection.h"

namespace aw {
namespace {

using server::Bytes;
using server::Clock;
using server::Connection;
using server::Mailbox;
using server::Phase;
using server::Posted;
using server::Segment;
using server::StreamSink;

constexpr std::uint64_t kListenerId = 0;
constexpr std::uint64_t kWakeId = 1;
constexpr auto kSweepEvery = std::chrono::milliseconds(250);
//! A client that pipelines requests without reading the answers stops being read here.
constexpr std::size_t kMaxUnsentAnswers = 1024 * 1024;

std::system_error systemError(const std::string& what) {
    return std::system_error(errno, std::generic_category(), what);
}

Bytes bytesOf(std::string text) { return std::make_shared<const std::string>(std::move(text)); }

//! An answer for a connection refused before any request is read from it.
Bytes refusalBeforeRequest(const std::string& code, const std::string& message, const std::string& hint) {
    HttpResponse response = HttpResponse::problem(503, {code, message, hint});
    response.headers["Retry-After"] = "1";
    return bytesOf(serializeResponse(response, false, false, false));
}

}  // namespace

class HttpServer::Impl {
public:
    Impl(Router& router, int listeningFd, HttpServerOptions options)
        : router_(router), listenFd_(listeningFd), options_(options) {
        epollFd_ = ::epoll_create1(EPOLL_CLOEXEC);
        wakeFd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (epollFd_ < 0 || wakeFd_ < 0) throw systemError("cannot create the HTTP server's epoll");
        mailbox_ = std::make_shared<Mailbox>(wakeFd_);
        limits_ = {options_.maxHeaderBytes, router_.maxBodyBytes()};
        serverPort_ = boundPort(listenFd_);
        watch(kListenerId, listenFd_, EPOLLIN, EPOLL_CTL_ADD);
        watch(kWakeId, wakeFd_, EPOLLIN, EPOLL_CTL_ADD);
        tooMany_ = refusalBeforeRequest(
            "too_many_connections", "agent-host has as many connections open as it allows",
            "retry later, or raise http.max_connections (AW_HTTP_MAX_CONNECTIONS)");
        tooManyFromAddress_ = refusalBeforeRequest(
            "too_many_connections", "too many connections are open from this address",
            "reuse kept-alive connections, or raise http.max_connections_per_address "
            "(AW_HTTP_MAX_CONNECTIONS_PER_ADDRESS)");
    }

    ~Impl() {
        stop(std::chrono::milliseconds(0));
        mailbox_->close();
        for (auto& [id, connection] : connections_) {  // never started: none were served
            ::close(connection->fd);
        }
        if (listenFd_ >= 0) ::close(listenFd_);
        ::close(wakeFd_);
        ::close(epollFd_);
    }

    void start() {
        if (::fcntl(listenFd_, F_SETFL, ::fcntl(listenFd_, F_GETFL) | O_NONBLOCK) != 0)
            throw systemError("cannot make the listening socket non-blocking");
        running_ = true;
        handlers_ = std::make_unique<HandlerPool>(options_.threads, options_.maxQueued);
        ioThread_ = std::thread([this] { loop(); });
    }

    void stopAccepting() {
        runOnIoThread([this] {
            if (listenFd_ < 0) return;
            ::epoll_ctl(epollFd_, EPOLL_CTL_DEL, listenFd_, nullptr);
            ::close(listenFd_);
            listenFd_ = -1;
        });
    }

    void stop(std::chrono::milliseconds flushFor) {
        if (!running_.exchange(false)) return;
        handlers_->stop();
        flushUntil_ = Clock::now() + flushFor;
        stopLoop_ = true;
        mailbox_->post({0, Posted::Kind::Command, {}, false, {}, [] {}});
        if (ioThread_.joinable()) ioThread_.join();
    }

    std::size_t openConnections() const { return connectionCount_.load(); }
    int requestsInProgress() const { return requestsInProgress_.load(); }

private:
    void watch(std::uint64_t id, int fd, std::uint32_t events, int op) {
        epoll_event event{};
        event.events = events;
        event.data.u64 = id;
        ::epoll_ctl(epollFd_, op, fd, &event);
    }

    //! Runs `command` on the I/O thread and waits for it (or runs it now if not started).
    void runOnIoThread(std::function<void()> command) {
        if (!ioThread_.joinable() || std::this_thread::get_id() == ioThread_.get_id()) {
            command();
            return;
        }
        auto done = std::make_shared<std::promise<void>>();
        auto finished = done->get_future();
        mailbox_->post({0, Posted::Kind::Command, {}, false, {}, [command, done] {
                            command();
                            done->set_value();
                        }});
        finished.wait_for(std::chrono::seconds(5));
    }

    // --- the I/O thread ------------------------------------------------------------------

    void loop() {
        std::vector<epoll_event> events(512);
        auto nextSweep = Clock::now() + kSweepEvery;
        while (!stopLoop_) {
            const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(nextSweep - Clock::now());
            const int ready = ::epoll_wait(epollFd_, events.data(), static_cast<int>(events.size()),
                                           pending_.empty() ? static_cast<int>(std::max<std::int64_t>(0, wait.count())) : 0);
            for (int i = 0; i < ready; ++i) {
                const auto id = events[i].data.u64;
                if (id == kListenerId) acceptAll();
                else if (id == kWakeId) takeMail();
                else onReady(id, events[i].events);
            }
            handleMail();
            if (Clock::now() >= nextSweep) {
                sweep();
                nextSweep = Clock::now() + kSweepEvery;
            }
        }
        flushBeforeStop();
        std::vector<std::uint64_t> all;
        for (const auto& [id, connection] : connections_) all.push_back(id);
        for (const auto id : all) close(*find(id));
    }

    void acceptAll() {
        for (int accepted = 0; accepted < 256 && listenFd_ >= 0; ++accepted) {
            sockaddr_storage peer{};
            socklen_t length = sizeof peer;
            const int fd = ::accept4(listenFd_, reinterpret_cast<sockaddr*>(&peer), &length,
                                     SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EMFILE || errno == ENFILE) {
                    // Out of descriptors: the backlog waits until some close, instead of
                    // the listener waking this thread in a loop.
                    watch(kListenerId, listenFd_, 0, EPOLL_CTL_MOD);
                    listenerPaused_ = true;
                }
                return;
            }
            admit(fd, peer);
        }
    }

    void admit(int fd, const sockaddr_storage& peer) {
        std::string address = "unix";
        unsigned short clientPort = 0;
        if (peer.ss_family == AF_INET) {
            const auto& in = reinterpret_cast<const sockaddr_in&>(peer);
            address.assign(reinterpret_cast<const char*>(&in.sin_addr), sizeof in.sin_addr);
            clientPort = ntohs(in.sin_port);
        } else if (peer.ss_family == AF_INET6) {
            const auto& in6 = reinterpret_cast<const sockaddr_in6&>(peer);
            address.assign(reinterpret_cast<const char*>(&in6.sin6_addr), sizeof in6.sin6_addr);
            clientPort = ntohs(in6.sin6_port);
        }
        auto& fromAddress = perAddress_[address];
        if (connections_.size() >= options_.maxConnections ||
            fromAddress >= options_.maxConnectionsPerAddress) {
            const Bytes& answer = connections_.size() >= options_.maxConnections ? tooMany_ : tooManyFromAddress_;
            [[maybe_unused]] const auto sent = ::send(fd, answer->data(), answer->size(), MSG_NOSIGNAL);
            ::close(fd);
            if (fromAddress == 0) perAddress_.erase(address);
            return;
        }
        ++fromAddress;
        if (peer.ss_family != AF_UNIX) {
            const int on = 1;  // answers are written whole; waiting to coalesce only adds latency
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
        }
        const std::uint64_t id = nextId_++;
        auto connection = std::make_unique<Connection>(id, fd, limits_);
        connection->address = std::move(address);
        connection->clientPort = clientPort;
        connection->deadline = Clock::now() + options_.idleTimeout;
        connection->watching = EPOLLIN | EPOLLRDHUP;
        watch(id, fd, connection->watching, EPOLL_CTL_ADD);
        connections_.emplace(id, std::move(connection));
        ++connectionCount_;
    }

    Connection* find(std::uint64_t id) {
        const auto it = connections_.find(id);
        return it == connections_.end() ? nullptr : it->second.get();
    }

    void close(Connection& connection) {
        ::epoll_ctl(epollFd_, EPOLL_CTL_DEL, connection.fd, nullptr);
        ::close(connection.fd);
        if (connection.stream) connection.stream->closed();
        markInProgress(connection, false);
        if (auto it = perAddress_.find(connection.address); it != perAddress_.end() && --it->second == 0)
            perAddress_.erase(it);
        --connectionCount_;
        if (listenerPaused_ && listenFd_ >= 0) {
            watch(kListenerId, listenFd_, EPOLLIN, EPOLL_CTL_MOD);
            listenerPaused_ = false;
        }
        connections_.erase(connection.id);  // last: `connection` is gone after this
    }

    void onReady(std::uint64_t id, std::uint32_t events) {
        Connection* connection = find(id);
        if (!connection) return;
        if (events & EPOLLERR) return close(*connection);
        if (events & EPOLLOUT) {
            if (!flush(*connection)) return;
            // Requests held back while answers piled up go on once those are read.
            if (connection->phase == Phase::Reading && !(events & EPOLLIN)) return advance(*connection);
        }
        if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) {
            if (connection->phase == Phase::Reading) {
                receive(*connection);
            } else if (connection->phase == Phase::Streaming || (events & EPOLLHUP)) {
                // An event stream's reader never sends more: this is it hanging up.
                close(*connection);
            }
        }
    }

    //! Reads what the client sent and acts on the requests it completes.
    void receive(Connection& connection) {
        char buffer[65536];
        for (int reads = 0; reads < 4; ++reads) {
            const ssize_t n = ::recv(connection.fd, buffer, sizeof buffer, 0);
            if (n == 0) {
                connection.peerDone = true;  // no more requests; answer what came whole
                break;
            }
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                if (errno == EINTR) continue;
                return close(connection);
            }
            connection.parser.feed(std::string_view(buffer, static_cast<std::size_t>(n)));
            if (connection.parser.state() != RequestParser::State::Partial) break;
            if (static_cast<std::size_t>(n) < sizeof buffer) break;
        }
        advance(connection);
    }

    //! Acts on what the parser holds (a request begun, whole or refused), one request at a
    //! time, then writes what is ready.
    void advance(Connection& connection) {
        while (connection.phase == Phase::Reading && !connection.closeWhenSent) {
            if (connection.parser.takeContinueWanted()) {
                append(connection, bytesOf("HTTP/1.1 100 Continue\r\n\r\n"), false);
            }
            const auto state = connection.parser.state();
            if (state == RequestParser::State::Idle) break;
            if (state == RequestParser::State::Partial) {
                if (!connection.requestBegun) {
                    connection.requestBegun = true;
                    connection.deadline = Clock::now() + options_.requestTimeout;
                    markInProgress(connection, true);
                }
                break;
            }
            if (state == RequestParser::State::Refused) {
                const auto answer = router_.refuse(connection.parser.partial(), connection.parser.refusal());
                answerNow(connection, answer, connection.parser.partial(), false);
                break;
            }
            if (connection.outBytes >= kMaxUnsentAnswers) break;  // goes on once they are read
            dispatch(connection, connection.parser.take());
        }
        if (connection.peerDone && connection.phase == Phase::Reading) connection.closeWhenSent = true;
        flush(connection);
    }

    void dispatch(Connection& connection, IncomingRequest request) {
        markInProgress(connection, true);
        connection.phase = Phase::Handling;
        connection.requestBegun = false;
        request.clientPort = connection.clientPort;
        request.serverPort = serverPort_;
        const RouteLane lane = router_.laneOf(request);
        if (lane == RouteLane::OnIoThread) {
            const HttpResponse answer = router_.handle(request);
            return answerNow(connection, answer, request, wantsKeepAlive(request));
        }
        // Shared, so the request is still here to be refused when the queue is full.
        auto queued = std::make_shared<IncomingRequest>(std::move(request));
        if (handlers_->post([this, id = connection.id, queued] { serve(id, *queued); },
                            lane == RouteLane::QueuedFirst)) {
            return;
        }
        HttpResponse busy = router_.refuse(
            *queued, ApiError(503, {"overloaded",
                                    "agent-host has " + std::to_string(options_.maxQueued) +
                                        " requests waiting for a thread",
                                    "retry shortly; raise http.threads if this lasts"}));
        busy.headers["Retry-After"] = "1";
        answerNow(connection, busy, *queued, wantsKeepAlive(*queued));
    }

    //! Answers on the I/O thread itself (probes, refusals): never a stream.
    void answerNow(Connection& connection, const HttpResponse& answer, const IncomingRequest& request,
                   bool keepAlive) {
        keepAlive = keepAlive && !answer.close && !answer.stream;
        answered(connection, bytesOf(serializeResponse(answer, request.isHead(), keepAlive,
                                               request.version == "HTTP/1.0")),
                 keepAlive, nullptr);
    }

    //! The answer to the connection's request is ready: it is queued, and the connection
    //! then streams, reads its next request or closes once it is sent.
    void answered(Connection& connection, Bytes bytes, bool keepAlive, std::shared_ptr<StreamSink> stream) {
        markInProgress(connection, false);
        append(connection, std::move(bytes), false);
        if (stream) {
            connection.phase = Phase::Streaming;
            connection.stream = std::move(stream);
        } else {
            enterReading(connection, keepAlive && !connection.peerDone);
        }
    }

    void markInProgress(Connection& connection, bool inProgress) {
        if (connection.inProgress == inProgress) return;
        connection.inProgress = inProgress;
        if (inProgress) ++requestsInProgress_;
        else --requestsInProgress_;
    }

    void enterReading(Connection& connection, bool keepAlive) {
        connection.phase = Phase::Reading;
        connection.closeWhenSent = !keepAlive;
        connection.stream.reset();
        connection.deadline = Clock::now() + options_.idleTimeout;
        if (keepAlive) connection.parser.resume();
    }

    void append(Connection& connection, Bytes bytes, bool streamed) {
        if (connection.out.empty()) connection.lastProgress = Clock::now();
        connection.outBytes += bytes->size();
        connection.out.push_back({std::move(bytes), 0, streamed});
    }

    //! Writes what it can; false when the connection closed (it is gone then).
    bool flush(Connection& connection) {
        while (!connection.out.empty()) {
            iovec pieces[64];
            int count = 0;
            for (auto it = connection.out.begin(); it != connection.out.end() && count < 64; ++it, ++count) {
                pieces[count].iov_base = const_cast<char*>(it->bytes->data() + it->offset);
                pieces[count].iov_len = it->bytes->size() - it->offset;
            }
            msghdr message{};
            message.msg_iov = pieces;
            message.msg_iovlen = static_cast<std::size_t>(count);
            const ssize_t n = ::sendmsg(connection.fd, &message, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                close(connection);
                return false;
            }
            connection.lastProgress = Clock::now();
            connection.outBytes -= static_cast<std::size_t>(n);
            std::size_t left = static_cast<std::size_t>(n);
            while (left > 0) {
                Segment& front = connection.out.front();
                const std::size_t take = std::min(left, front.bytes->size() - front.offset);
                front.offset += take;
                left -= take;
                if (front.streamed && connection.stream) connection.stream->sent(take);
                if (front.offset == front.bytes->size()) connection.out.pop_front();
            }
        }
        if (connection.out.empty() && connection.closeWhenSent) {
            close(connection);
            return false;
        }
        rewatch(connection);
        return true;
    }

    void rewatch(Connection& connection) {
        std::uint32_t wanted = 0;
        switch (connection.phase) {
            case Phase::Reading:
                if (!connection.closeWhenSent && !connection.peerDone &&
                    connection.outBytes < kMaxUnsentAnswers)
                    wanted = EPOLLIN | EPOLLRDHUP;
                break;
            case Phase::Handling: break;
            case Phase::Streaming: wanted = EPOLLRDHUP; break;
        }
        if (!connection.out.empty()) wanted |= EPOLLOUT;
        if (wanted != connection.watching) {
            connection.watching = wanted;
            watch(connection.id, connection.fd, wanted, EPOLL_CTL_MOD);
        }
    }

    void takeMail() {
        std::uint64_t count = 0;
        [[maybe_unused]] const auto read = ::read(wakeFd_, &count, sizeof count);
        for (auto& posted : mailbox_->takeAll()) pending_.push_back(std::move(posted));
    }

    //! Works through what other threads posted, a few milliseconds at a time: a fan-out to
    //! thousands of streams never keeps this thread from new requests (and /health) for long.
    void handleMail() {
        constexpr auto kSlice = std::chrono::milliseconds(2);
        const auto until = Clock::now() + kSlice;
        while (!pending_.empty() && Clock::now() < until) {
            Posted posted = std::move(pending_.front());
            pending_.pop_front();
            if (posted.kind == Posted::Kind::Command) {
                posted.command();
                continue;
            }
            Connection* connection = find(posted.connection);
            if (!connection) {
                if (posted.stream) posted.stream->closed();
                continue;
            }
            switch (posted.kind) {
                case Posted::Kind::Answer:
                    answered(*connection, std::move(posted.bytes), posted.keepAlive, std::move(posted.stream));
                    if (connection->phase == Phase::Reading) advance(*connection);  // pipelined requests
                    else flush(*connection);
                    break;
                case Posted::Kind::Data:
                    if (connection->phase != Phase::Streaming) break;
                    append(*connection, std::move(posted.bytes), true);
                    // Already waiting for the socket to drain: EPOLLOUT writes it with the rest.
                    if (connection->out.size() == 1) flush(*connection);
                    break;
                case Posted::Kind::End:
                    if (connection->phase != Phase::Streaming) break;
                    append(*connection, bytesOf("0\r\n\r\n"), false);
                    enterReading(*connection, !connection->peerDone);
                    advance(*connection);
                    break;
                case Posted::Kind::Close: close(*connection); break;
                case Posted::Kind::Command: break;
            }
        }
    }

    //! Enforces the deadlines: idle connections close, unfinished requests get 408, and
    //! readers that take nothing for `stallTimeout` are dropped.
    void sweep() {
        const auto now = Clock::now();
        std::vector<std::uint64_t> expired;
        for (const auto& [id, connection] : connections_) {
            const bool stalled = !connection->out.empty() && now - connection->lastProgress > options_.stallTimeout;
            const bool late = connection->phase == Phase::Reading && now > connection->deadline &&
                              connection->out.empty();
            if (stalled || late) expired.push_back(id);
        }
        for (const auto id : expired) {
            Connection& connection = *find(id);
            if (connection.phase == Phase::Reading && connection.requestBegun && connection.out.empty()) {
                const auto answer = router_.refuse(
                    connection.parser.partial(),
                    ApiError(408, {"request_timeout",
                                   "the request did not arrive whole within " +
                                       std::to_string(options_.requestTimeout.count()) + " ms",
                                   "send the headers and body at once; raise http.request_timeout_ms "
                                   "(AW_HTTP_REQUEST_TIMEOUT_MS) for slow links"}));
                answerNow(connection, answer, connection.parser.partial(), false);
                flush(connection);
            } else {
                close(connection);
            }
        }
    }

    //! Stopping: what is already answered gets a moment to go out, then all close.
    void flushBeforeStop() {
        for (auto& [id, connection] : connections_) connection->closeWhenSent = true;
        while (Clock::now() < flushUntil_) {
            bool pending = false;
            for (const auto& [id, connection] : connections_) pending = pending || !connection->out.empty();
            if (!pending) break;
            epoll_event events[64];
            const int ready = ::epoll_wait(epollFd_, events, 64, 20);
            for (int i = 0; i < ready; ++i) {
                if (Connection* connection = find(events[i].data.u64); connection && (events[i].events & EPOLLOUT))
                    flush(*connection);
            }
        }
    }

    // --- the handler threads -------------------------------------------------------------

    void serve(std::uint64_t connection, const IncomingRequest& request) {
        HttpResponse answer = router_.handle(request);
        const bool keepAlive = wantsKeepAlive(request) && !answer.close;
        Bytes head = bytesOf(serializeResponse(answer, request.isHead(), keepAlive, request.version == "HTTP/1.0"));
        if (!answer.stream || request.isHead()) {
            // A HEAD gets a stream's headers and no stream. The stream (and whatever it holds,
            // such as a stream slot) goes before the answer does, so a client's next request
            // never finds it still held.
            answer.stream = nullptr;
            mailbox_->post({connection, Posted::Kind::Answer, std::move(head), keepAlive, {}, {}});
            return;
        }
        auto sink = std::make_shared<StreamSink>(mailbox_, connection, options_.streamBufferBytes);
        // Posted before the stream can write, so the headers go out first.
        mailbox_->post({connection, Posted::Kind::Answer, std::move(head), true, sink, {}});
        try {
            answer.stream(sink);
        } catch (const std::exception&) {
            sink->end();
        }
    }

    Router& router_;
    int listenFd_;
    HttpServerOptions options_;
    RequestLimits limits_;
    unsigned short serverPort_ = 0;
    int epollFd_ = -1;
    int wakeFd_ = -1;
    std::shared_ptr<Mailbox> mailbox_;
    Bytes tooMany_;
    Bytes tooManyFromAddress_;

    // The I/O thread's own.
    std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> connections_;
    std::deque<Posted> pending_;  //!< posted work not handled yet
    std::unordered_map<std::string, std::size_t> perAddress_;
    std::uint64_t nextId_ = 2;
    bool listenerPaused_ = false;
    Clock::time_point flushUntil_;

    std::atomic<std::size_t> connectionCount_{0};
    std::atomic<int> requestsInProgress_{0};
    std::atomic<bool> running_{false};
    std::atomic<bool> stopLoop_{false};
    std::thread ioThread_;

    std::unique_ptr<HandlerPool> handlers_;
};

HttpServer::HttpServer(Router& router, int listeningFd, HttpServerOptions options)
    : impl_(std::make_unique<Impl>(router, listeningFd, options)) {}
HttpServer::~HttpServer() = default;
void HttpServer::start() { impl_->start(); }
void HttpServer::stopAccepting() { impl_->stopAccepting(); }
void HttpServer::stop(std::chrono::milliseconds flushFor) { impl_->stop(flushFor); }
std::size_t HttpServer::openConnections() const { return impl_->openConnections(); }
int HttpServer::requestsInProgress() const { return impl_->requestsInProgress(); }

}  // namespace aw
