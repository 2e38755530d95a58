// Step 6 (when a stop is asked for): the graceful interrupt first, then SIGTERM once the
// grace has passed, then SIGKILL after twice the grace. One timeline, used by the run
// engine and by `agent-provider-host --run`.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace aw {

class StopEscalation {
public:
    using Clock = std::chrono::steady_clock;

    explicit StopEscalation(std::chrono::milliseconds grace) : grace_(grace) {}

    //! The stop begins (the caller sends the graceful interrupt). False when it had already.
    bool begin(Clock::time_point now);
    bool begun() const { return begun_; }
    //! The signal due now ("TERM", then "KILL"), each once; nullopt when none is.
    std::optional<std::string> due(Clock::time_point now);
    //! KILL was sent out of turn (a second stop request): nothing more is due.
    void killedEarly() { sent_ = 2; }

private:
    std::chrono::milliseconds grace_;
    bool begun_ = false;
    Clock::time_point since_;
    int sent_ = 0;  //!< 0 none, 1 TERM, 2 KILL
};

}  // namespace aw
