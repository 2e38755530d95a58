// An HTTP proxy for tests that takes the place of an agent-executor's unix socket: the
// executor's socket is moved aside and the proxy listens where it was, forwarding every
// request to it, except the next few whose `METHOD path` starts as asked, which it answers
// with an error status instead (an executor failing once, then healthy).
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>

namespace Poco::Net {
class HTTPServer;
}

namespace aw::test {

class ExecutorFaultProxy {
public:
    //! Moves the executor's socket `socketPath` aside and serves in its place.
    explicit ExecutorFaultProxy(std::filesystem::path socketPath);
    //! Puts the executor's socket back.
    ~ExecutorFaultProxy();
    ExecutorFaultProxy(const ExecutorFaultProxy&) = delete;
    ExecutorFaultProxy& operator=(const ExecutorFaultProxy&) = delete;

    //! The next `count` requests whose `METHOD path` starts with `prefix` get `status`.
    void failNext(const std::string& prefix, int count, int status = 500);
    //! Requests answered with the injected status so far.
    int injected() const { return injected_; }
    //! Requests whose `METHOD path` was `line`, forwarded or not.
    int seen(const std::string& line) const;

    struct State;

private:
    std::filesystem::path socketPath_;
    std::filesystem::path upstreamPath_;
    std::shared_ptr<State> state_;
    std::atomic<int>& injected_;
    std::unique_ptr<Poco::Net::HTTPServer> server_;
};

}  // namespace aw::test
