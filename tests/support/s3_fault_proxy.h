// A small HTTP proxy in front of an S3 server, for tests: it forwards requests unchanged
// (the Host header included, so SigV4 signatures still hold), counts them, and can answer
// the next N with an error status instead (a failing service, then a healthy one).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace Poco::Net {
class HTTPServer;
}

namespace aw::test {

class S3FaultProxy {
public:
    //! Listens on 127.0.0.1 (a free port), forwarding to 127.0.0.1:`upstreamPort`.
    explicit S3FaultProxy(unsigned short upstreamPort);
    ~S3FaultProxy();

    unsigned short port() const { return port_; }
    std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

    //! The next `count` requests are answered `status` (an S3 error document), not forwarded.
    void failNext(int count, int status = 500);
    //! `METHOD path?query` of every request so far, in order.
    std::vector<std::string> requests() const;
    //! How many requests so far had `method`.
    int count(const std::string& method) const;
    void clear();

    struct State {
        mutable std::mutex mutex;
        std::vector<std::string> requests;
        int failures = 0;
        int failureStatus = 500;
        unsigned short upstreamPort = 0;
    };

private:
    std::shared_ptr<State> state_;
    std::unique_ptr<Poco::Net::HTTPServer> server_;
    unsigned short port_ = 0;
};

}  // namespace aw::test
