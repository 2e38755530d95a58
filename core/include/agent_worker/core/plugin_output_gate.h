// What the host keeps of one run's plugin outputs, the same on every path (a live run, a
// replay through agent-provider-host or the admin API): the checked events of an accepted
// line, or one provider.line_error event in place of a rejected line's events, and the
// number of rejected lines on the run's terminal event (`line_errors`).
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>

#include "agent_worker/core/plugin_output_check.h"

namespace aw {

//! Rejection reasons stored in provider.line_error events are cut to this many bytes.
inline constexpr std::size_t kMaxLineErrorReasonBytes = 2000;

class PluginOutputGate {
public:
    //! `provider` names the plugin in provider.line_error events; `lineErrorsSoFar` carries
    //! the count over when a run's outputs are gated by more than one gate (a host that
    //! took a run over counts the provider.line_error events already stored).
    explicit PluginOutputGate(std::string provider, std::size_t lineErrorsSoFar = 0);

    //! What to do with one plugin output.
    struct Admitted {
        nlohmann::json events = nlohmann::json::array();  //!< [{type, data}] to store, in order
        std::string stdinBytes;                           //!< for the CLI's stdin
        bool closeStdin = false;
        std::string rejection;  //!< why the output was rejected; empty when accepted

        bool accepted() const { return rejection.empty(); }
    };

    //! Checks the output of `call` for the raw record `rawEventId` (a CLI line, or the exit
    //! record for exit_run). Accepted: its events; for exit_run, with `line_errors` set on the
    //! terminal event. Rejected: one provider.line_error event, counted.
    Admitted admit(const nlohmann::json& output, std::string_view rawEventId,
                   PluginCall call = PluginCall::Feed);

    //! A call that gave no output document at all (the plugin returned an error status, text
    //! that is not JSON, too many bytes): a rejected line too, for `reason`.
    Admitted reject(std::string_view rawEventId, std::string_view reason);

    //! Lines rejected so far.
    std::size_t lineErrors() const { return lineErrors_; }

    //! Sets data.line_errors on every terminal event in `events` ([{type, data}]): for a
    //! terminal event the host makes itself when the plugin gave none.
    void countOnTerminal(nlohmann::json& events) const;

    //! The provider.line_error event: {type, data: {raw_event_id, reason, provider}}.
    nlohmann::json lineErrorEvent(std::string_view rawEventId, std::string_view reason) const;

private:
    std::string provider_;
    std::size_t lineErrors_ = 0;
};

}  // namespace aw
