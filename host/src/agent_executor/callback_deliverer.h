// Delivers the output spool to the host's callback URL: batches of one run's records in
// order, under the run's trace id, retried with backoff until the host acknowledges them
// (2xx), durably marked.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "agent_executor/output_spool.h"
#include "agent_worker/core/backoff.h"

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

    CallbackDeliverer(OutputSpool& spool, CallbackTarget target);
    ~CallbackDeliverer();

private:
    void loop();
    //! True when the host acknowledged the batch.
    bool post(const PendingBatch& batch);

    OutputSpool& spool_;
    CallbackTarget target_;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

}  // namespace aw
