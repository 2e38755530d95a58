// The aw client's one way to agent-host: its public HTTP API (docs/api.md), plain HTTP with
// bearer tokens. Every failure is an AwError carrying the exit code aw ends with.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <stdexcept>
#include <string>

namespace aw::cli {

using Json = nlohmann::json;

//! aw's exit codes (also in `aw --help` and docs/aw.md).
enum ExitCode : int {
    kCompleted = 0,     //!< the run completed; any other command succeeded
    kRunFailed = 1,     //!< the run ended failed
    kUsage = 2,         //!< the command line is wrong
    kRunStopped = 3,    //!< the run ended stopped (Ctrl-C, or a stop from elsewhere)
    kApiError = 4,      //!< agent-host answered with an error (code, message and hint printed)
    kUnreachable = 5,   //!< agent-host could not be reached, or its answer was not the API's
    kInterrupted = 130  //!< a second Ctrl-C: aw quit without waiting for the run to end
};

//! What went wrong, said for a human, and the exit code it ends aw with.
class AwError : public std::runtime_error {
public:
    AwError(int exitCode, const std::string& message, std::string hint = "")
        : std::runtime_error(message), exitCode_(exitCode), hint_(std::move(hint)) {}
    int exitCode() const { return exitCode_; }
    const std::string& hint() const { return hint_; }

private:
    int exitCode_;
    std::string hint_;
};

//! Where agent-host is and the tokens to show it.
struct Endpoint {
    std::string url = "http://127.0.0.1:8080";
    std::string token;       //!< for /v1/... (client scope)
    std::string adminToken;  //!< for /admin/...; the client token when empty
};

//! One server-sent event of a run's stream: the event JSON and its seq.
struct StreamedEvent {
    std::int64_t seq = 0;
    Json event;
};

class ApiClient {
public:
    //! Throws AwError(kUsage) for a URL aw cannot use (not http://host[:port]).
    explicit ApiClient(Endpoint endpoint);

    Json get(const std::string& path) const;
    Json post(const std::string& path, const Json& body) const;

    //! Follows GET /v1/runs/{rid}/events as server-sent events from `afterSeq` until the
    //! stream ends (after the run's terminal event), handing each event to `onEvent`. A
    //! dropped connection is picked up again after the last event received (Last-Event-ID).
    void followEvents(const std::string& runId, std::int64_t afterSeq,
                      const std::function<void(const StreamedEvent&)>& onEvent) const;

    const std::string& url() const { return endpoint_.url; }

private:
    struct Answer {
        int status = 0;
        std::string body;
    };
    Answer exchange(const std::string& method, const std::string& path,
                    const std::string* body) const;
    //! The answer's JSON, or the AwError its error object describes.
    Json jsonOf(const std::string& method, const std::string& path, const Answer& answer) const;
    std::string tokenFor(const std::string& path) const;
    AwError unreachable(const std::string& why) const;

    Endpoint endpoint_;
    std::string host_;
    unsigned short port_ = 0;
};

}  // namespace aw::cli
