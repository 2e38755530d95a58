// Stands in for agent-host's callback endpoint in executor tests and benchmarks: keeps
// each event once (by event_id), in arrival order, the trace headers of every request, and
// can play dead (503) for a while, refuse bodies over a limit (413) like agent-host, or
// refuse a run's lines for good (a 4xx).
#pragma once

#include <Poco/Net/HTTPServer.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace aw::test {

class CallbackSink {
public:
    CallbackSink();
    ~CallbackSink();

    std::string url() const;
    void setDown(bool down) { down_ = down; }
    //! Bodies over `bytes` are answered 413 (agent-host's `http.max_body_bytes`); 0: no limit.
    void setMaxBodyBytes(std::size_t bytes) { maxBodyBytes_ = bytes; }
    //! Batches of `runId` that hold a stdout or stderr line are answered `status`, with
    //! agent-host's error shape (`invalid_callback`); its exit alone is taken.
    void refuseLinesOf(const std::string& runId, int status);
    int refused() const { return refused_; }
    //! The run's events of one stream (stdout, stderr, exit), in arrival order.
    std::vector<nlohmann::json> events(const std::string& runId, const std::string& stream);
    //! Waits until the run's exit record has arrived (or `timeout`).
    bool waitForExit(const std::string& runId,
                     std::chrono::milliseconds timeout = std::chrono::seconds(20));
    std::string lastToken();

    //! One callback request as it arrived, refused ones included.
    struct Delivery {
        std::string runId;  //!< the batch's run_id
        std::string traceId;  //!< X-Trace-Id
        std::string traceparent;
        bool refused = false;  //!< answered 503 while down
        int status = 0;        //!< the answer's
        std::size_t bytes = 0;  //!< the body's
    };
    //! Every callback request of `runId`, in arrival order.
    std::vector<Delivery> deliveries(const std::string& runId);

private:
    struct Handler;
    struct Factory;
    unsigned short port_ = 0;
    std::atomic<bool> down_{false};
    std::atomic<std::size_t> maxBodyBytes_{0};
    std::map<std::string, int> refusedRuns_;  //!< run id -> status for its lines
    std::atomic<int> refused_{0};
    std::mutex mutex_;
    std::set<std::string> seen_;
    std::set<std::string> exited_;  //!< runs whose exit has arrived
    std::vector<nlohmann::json> events_;
    std::vector<Delivery> deliveries_;
    std::string token_;
    std::unique_ptr<Poco::Net::HTTPServer> server_;
};

}  // namespace aw::test
