// The one backoff policy: exponential waits between attempts, capped, with jitter so that
// replicas and workers that failed together do not retry in lockstep. Used by queue
// retries, provider restarts, the executor client and the executor's callback deliverer.
#pragma once

#include <chrono>

namespace aw {

struct Backoff {
    std::chrono::milliseconds initial{200};
    std::chrono::milliseconds max{5000};
    //! Each wait is scaled by a factor in [1 - jitter, 1 + jitter].
    double jitter = 0.2;

    //! The wait after failed attempt `attempt` (1-based): initial * 2^(attempt-1), capped at
    //! max, then jittered with `unitRandom` in [0, 1] (0.5 means no jitter).
    std::chrono::milliseconds after(int attempt, double unitRandom) const;
    //! The same, with a random draw of this thread's generator.
    std::chrono::milliseconds after(int attempt) const;
};

//! A uniform draw in [0, 1) from a generator of this thread's own.
double unitRandom();

}  // namespace aw
