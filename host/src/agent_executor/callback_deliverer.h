// Delivers the output spool to the host's callback URL: batches of one run's records in
// order, under the run's trace id, each body under the host's limit. Acknowledged (2xx)
// batches are durably marked; a batch too large (413) is sent in smaller ones; a run the
// host refuses for good (another 4xx) has its undelivered lines given up, so the runs after
// it are not held up; anything else is retried with backoff. Batches go over one kept-alive
// connection, opened again after a failure.
#pragma once

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/URI.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "agent_executor/output_spool.h"
#include "agent_worker/core/backoff.h"
#include "agent_worker/core/callback_delivery.h"

namespace aw {

struct CallbackTarget {
    std::string url;  //!< http://127.0.0.1:PORT/v1/callbacks/executor
    std::string token;
    std::string executorId;
    std::string sessionId;
};

class CallbackDeliverer {
public:
    static constexpr std::size_t kMaxBatchRecords = 256;
    //! Waits between failed deliveries: 100 ms doubling to 5 s, +-20%.
    static constexpr Backoff kRetryBackoff{std::chrono::milliseconds(100), std::chrono::milliseconds(5000), 0.2};

    //! `bodyBytes`: the host's body limit, shared with the RunManager that cuts lines to fit
    //! it; lowered here when the host answers 413 to a batch of several records.
    CallbackDeliverer(OutputSpool& spool, CallbackTarget target,
                      std::atomic<std::size_t>& bodyBytes);
    ~CallbackDeliverer();

private:
    struct Answer {
        int status = 0;      //!< 0: no answer
        std::string detail;  //!< the error's code and message, or the exception's
    };
    void loop();
    //! The callback body of the longest start of `batch` under the limit (at least one
    //! record); `batch` keeps only those records.
    std::string fit(PendingBatch& batch) const;
    Answer post(const PendingBatch& batch, const std::string& body);
    //! One request and its answer on `session_` (connected first if need be). Throws when
    //! there is no answer.
    Answer exchange(const PendingBatch& batch, const std::string& body, const std::string& traceId);

    OutputSpool& spool_;
    CallbackTarget target_;
    Poco::URI uri_;
    //! Kept alive across batches (only the deliverer's thread uses it); null after a failure.
    std::unique_ptr<Poco::Net::HTTPClientSession> session_;
    std::atomic<std::size_t>& bodyBytes_;
    //! At most this many records in the next batch: halved on each 413, so that a batch
    //! shrinks to one record even where the limit cannot go lower.
    std::size_t maxRecords_ = kMaxBatchRecords;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

}  // namespace aw
