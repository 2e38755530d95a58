// Step 1 of a run: a user's message is checked and becomes a queued run. Refusals are
// typed (Refused with a RefusalKind); the API layer alone turns them into HTTP statuses.
#pragma once

#include <string>

#include "agent_worker/core/provider_registry.h"
#include "agent_worker/core/refusal.h"
#include "agent_worker/core/run_store.h"
#include "agent_worker/core/runs/worker_placement.h"
#include "agent_worker/provider_abi.h"

namespace aw {

//! POST /v1/sessions/{sid}/messages, and POST /v1/run-queue.
struct MessageRequest {
    std::string sessionId;
    std::string provider;
    std::string prompt;
    std::string model;
    std::string approvalMode = "auto";
    std::string idempotencyKey;
    std::string enqueueKey;
};

//! The longest prompt a provider without the LONG_PROMPT capability accepts, in bytes: such
//! a plugin passes the prompt to its CLI as one command-line argument (AW_MAX_ARGUMENT_BYTES).
inline constexpr std::size_t kMaxPromptArgumentBytes = AW_MAX_ARGUMENT_BYTES;

struct SubmissionOptions {
    WorkerPlacement placement;
    int maxAttempts = 3;  //!< queue attempts before `final_failed`
};

class MessageSubmission {
public:
    MessageSubmission(SubmissionOptions options, const ProviderRegistry& providers, RunStore& store)
        : options_(std::move(options)), providers_(providers), store_(store) {}

    //! Throws Refused: InvalidInput (session id; a prompt that is empty, holds a NUL byte, or
    //! is longer than kMaxPromptArgumentBytes for a provider without LONG_PROMPT, so its CLI
    //! could not be given it; approval mode), NotFound
    //! (unknown provider), Unavailable (provider degraded/failed, or plugins still starting),
    //! Unprocessable (no RUN, or `ask` without HUMAN_LOOP).
    void check(const MessageRequest& request) const;
    //! check(), then the run, its queue entry and `run.queued` in one transaction. A repeated
    //! idempotency or enqueue key returns the existing run (`created` false).
    CreatedRun submit(const MessageRequest& request, std::int64_t nowMs);

private:
    SubmissionOptions options_;
    const ProviderRegistry& providers_;
    RunStore& store_;
};

}  // namespace aw
