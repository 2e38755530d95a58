// A small HTTP proxy in front of an S3 server, for tests: it forwards requests unchanged
// (the Host header included, so SigV4 signatures still hold), counts them, can answer the
// next N with an error status instead (a failing service, then a healthy one), and can check
// every request's SigV4 signature as S3 does (s3rver does not: it checks only the access
// key), refusing a wrong one with 403 SignatureDoesNotMatch.
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
    //! Listens on 127.0.0.1:`port` (0: a free one), forwarding to 127.0.0.1:`upstreamPort`.
    //! A proxy made again on the port of one that went is the service coming back.
    explicit S3FaultProxy(unsigned short upstreamPort, unsigned short port = 0);
    ~S3FaultProxy();

    unsigned short port() const { return port_; }
    std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

    //! The next `count` requests (of those whose `METHOD path?query` contains `matching`)
    //! are answered `status` (an S3 error document), not forwarded. Replaces every fault.
    void failNext(int count, int status = 500, const std::string& matching = "");
    //! Adds a fault beside the others: the next `count` requests matching `matching`
    //! (every one when `count` is negative) are answered `status`.
    void addFault(const std::string& matching, int count, int status = 500);
    //! The most requests this proxy was handling at the same moment (since clear()).
    int maxInFlight() const;
    //! From now on every request must carry a valid SigV4 signature for these credentials
    //! (recomputed here from the AWS specification, independently of libcurl) and a payload
    //! hash that matches its body; otherwise it is answered 403 and not forwarded.
    void verifySignatures(const std::string& accessKey, const std::string& secret,
                          const std::string& region = "us-east-1");
    //! How many requests passed the signature check.
    int verified() const;
    //! `METHOD path?query` of every request so far, in order.
    std::vector<std::string> requests() const;
    //! How many requests so far had `method`.
    int count(const std::string& method) const;
    void clear();

    struct Fault {
        std::string matching;
        int remaining = 0;  //!< negative: forever
        int status = 500;
    };
    struct State {
        mutable std::mutex mutex;
        std::vector<std::string> requests;
        std::vector<Fault> faults;
        int inFlight = 0;
        int maxInFlight = 0;
        std::string accessKey, secret, region;  //!< set: signatures are checked
        int verified = 0;
        unsigned short upstreamPort = 0;
    };

private:
    std::shared_ptr<State> state_;
    std::unique_ptr<Poco::Net::HTTPServer> server_;
    unsigned short port_ = 0;
};

}  // namespace aw::test
