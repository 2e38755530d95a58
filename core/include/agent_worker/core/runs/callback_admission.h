// Which executor callbacks agent-host stores: a batch is admitted only from the worker its
// credential belongs to, for runs of that worker's session that were started on it, and
// only when its records fit the run's stored output (no second exit, no seq far ahead).
// A refused batch changes nothing; the API layer answers the verdict (docs/api.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "agent_worker/core/executor_protocol.h"
#include "agent_worker/core/problem.h"
#include "agent_worker/core/run_store.h"

namespace aw {

//! Who posted a batch, as its bearer token says.
struct CallbackCaller {
    //! A worker's own callback token: the executor and session it was issued for.
    std::string executorId;
    std::string sessionId;
    //! An operator's token (`auth.executor_tokens`): bound to no worker, so the batch's
    //! own `executor_id` and `session_id` are taken as its claim (the runs must still be
    //! of that session). Never handed to workers.
    bool operatorToken = false;

    //! For logs: `local-chat-42`, or `operator`.
    std::string describe() const { return operatorToken ? "operator" : executorId; }
};

//! How far past the highest stored seq of a stream a record may be: the executor sends a
//! run's records in order, at most 256 a batch, so anything further is not a real line.
inline constexpr std::int64_t kMaxSeqAhead = 100000;

enum class CallbackVerdictKind {
    Admitted,
    Forbidden,   //!< the token's worker is not the batch's or the run's (403 `forbidden`)
    UnknownRun,  //!< a record names no stored run (404 `run_not_found`)
    Invalid,     //!< the records do not fit the run (400 `invalid_callback`)
};

struct CallbackVerdict {
    CallbackVerdictKind kind = CallbackVerdictKind::Admitted;
    Problem problem;  //!< what and why, when refused

    bool admitted() const { return kind == CallbackVerdictKind::Admitted; }
};

class CallbackAdmission {
public:
    //! `states` reads the runs; RunStore::admitRawOutput hands over states read in the
    //! transaction that stores the batch, so the verdict still holds when it is stored.
    explicit CallbackAdmission(RunOutputStates states) : states_(std::move(states)) {}

    //! Checks, in order: the batch names the caller's executor and session; every record's
    //! run exists, is of that session, and was started (its CLI handed to an executor: not
    //! `queued` or `starting`); each record agrees with the batch's `run_id`; seq >= 1;
    //! a line's seq at most kMaxSeqAhead past the highest stored seq of its stream (counted
    //! from the records before it in the batch too); an exit has seq 1, is the batch's only
    //! one, counts lines within the same bound, and matches an exit already stored (a
    //! redelivery) or there is none. Reads the states; writes nothing.
    CallbackVerdict check(const CallbackCaller& caller, const CallbackBatch& batch);

private:
    RunOutputStates states_;
};

}  // namespace aw
