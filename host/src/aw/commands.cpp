#include "aw/commands.h"

#include <Poco/URI.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <iostream>
#include <iterator>
#include <thread>

#include "aw/run_view.h"

namespace aw::cli {
namespace {

std::string encoded(const std::string& text) {
    std::string out;
    Poco::URI::encode(text, "/?#&=+%", out);
    return out;
}

std::string text(const Json& value) {
    if (value.is_string()) return value.get<std::string>();
    if (value.is_null()) return "-";
    return value.dump();
}

//! Rows under a header, each column as wide as its widest cell.
void printTable(std::ostream& out, const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
    std::vector<std::size_t> widths(header.size());
    for (std::size_t c = 0; c < header.size(); ++c) widths[c] = header[c].size();
    for (const auto& row : rows) {
        for (std::size_t c = 0; c < row.size() && c < widths.size(); ++c) {
            widths[c] = std::max(widths[c], row[c].size());
        }
    }
    auto print = [&](const std::vector<std::string>& row) {
        std::string line;
        for (std::size_t c = 0; c < row.size(); ++c) {
            line += row[c];
            if (c + 1 < row.size()) line += std::string(widths[c] - row[c].size() + 2, ' ');
        }
        out << line << "\n";
    };
    print(header);
    for (const auto& row : rows) print(row);
    if (rows.empty()) out << "(none)\n";
}

int exitCodeOf(const std::string& outcome) {
    if (outcome == "run.completed" || outcome == "completed") return kCompleted;
    if (outcome == "run.stopped" || outcome == "stopped") return kRunStopped;
    return kRunFailed;
}

void requireArgs(const Invocation& invocation, std::size_t count, const std::string& usage) {
    if (invocation.args.size() < count) throw AwError(kUsage, "usage: " + usage, "see aw --help");
}

//! While a run is shown: the first Ctrl-C (or SIGTERM) asks agent-host to stop the run,
//! whose stream then ends with run.stopped; a second one quits at once. The signals are
//! taken by a thread of their own (sigtimedwait), so the stream reader needs no timeouts.
class StopOnInterrupt {
public:
    StopOnInterrupt(const ApiClient& api, std::string runId) : api_(api), runId_(std::move(runId)) {
        sigemptyset(&signals_);
        sigaddset(&signals_, SIGINT);
        sigaddset(&signals_, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &signals_, &previous_);
        watcher_ = std::thread([this] { watch(); });
    }
    ~StopOnInterrupt() {
        done_ = true;
        watcher_.join();
        pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
    }
    StopOnInterrupt(const StopOnInterrupt&) = delete;
    StopOnInterrupt& operator=(const StopOnInterrupt&) = delete;

private:
    void watch() {
        const timespec tick{0, 100'000'000};
        int received = 0;
        while (!done_) {
            if (sigtimedwait(&signals_, nullptr, &tick) < 0) continue;
            if (++received > 1) {
                std::cerr << "\naw: quitting; run " << runId_ << " goes on unless stopped"
                          << std::endl;
                std::_Exit(kInterrupted);
            }
            std::cerr << "\naw: stopping run " << runId_ << " (Ctrl-C again to quit now)"
                      << std::endl;
            try {
                api_.post("/v1/runs/" + runId_ + "/stop", Json::object());
            } catch (const AwError& e) {
                // 409 run_finished: it ended meanwhile; the stream shows how.
                std::cerr << "aw: " << e.what() << std::endl;
            }
        }
    }

    const ApiClient& api_;
    std::string runId_;
    sigset_t signals_{};
    sigset_t previous_{};
    std::atomic<bool> done_{false};
    std::thread watcher_;
};

//! Shows a run's events from its first until it ends; the exit code of its outcome.
int follow(const ApiClient& api, const std::string& runId, bool json, std::ostream& out) {
    RunView view(out);
    api.followEvents(runId, 0, [&](const StreamedEvent& streamed) {
        if (json) {
            out << streamed.event.dump(-1, ' ', false, Json::error_handler_t::replace) << std::endl;
        } else {
            view.show(streamed.event);
        }
    });
    if (!view.outcome().empty() && !json) return exitCodeOf(view.outcome());
    // Without the terminal event in hand (--json, or a stream that ended early): ask.
    return exitCodeOf(api.get("/v1/runs/" + runId).value("status", ""));
}

std::string promptOf(const Invocation& invocation) {
    std::vector<std::string> words(invocation.args.begin() + 1, invocation.args.end());
    if (words.size() == 1 && words[0] == "-") {
        return std::string(std::istreambuf_iterator<char>(std::cin),
                           std::istreambuf_iterator<char>());
    }
    std::string prompt;
    for (const auto& word : words) prompt += (prompt.empty() ? "" : " ") + word;
    return prompt;
}

int send(const ApiClient& api, const Invocation& invocation, std::ostream& out) {
    requireArgs(invocation, 2, "aw send SESSION --provider P PROMPT...");
    const std::string provider = invocation.flag("provider");
    if (provider.empty()) {
        throw AwError(kUsage, "aw send needs --provider",
                      "aw providers lists them (e.g. claude-code)");
    }
    Json body = {{"provider", provider}, {"prompt", promptOf(invocation)}};
    if (!invocation.flag("model").empty()) body["model"] = invocation.flag("model");
    std::string mode = invocation.flag("approval-mode");
    if (invocation.ask) mode = "ask";
    if (!mode.empty()) body["approval_mode"] = mode;
    const Json accepted =
        api.post("/v1/sessions/" + encoded(invocation.args[0]) + "/messages", body);
    const std::string runId = accepted.value("run_id", "");
    StopOnInterrupt stopper(api, runId);
    return follow(api, runId, invocation.json, out);
}

int reply(const ApiClient& api, const Invocation& invocation, std::ostream& out) {
    requireArgs(invocation, 2, "aw reply RUN allow|deny [--message WHY] [--answer LABEL]...");
    const std::string& runId = invocation.args[0];
    const std::string& decision = invocation.args[1];
    if (decision != "allow" && decision != "deny") {
        throw AwError(kUsage, "the decision is allow or deny, not '" + decision + "'",
                      "see aw --help");
    }
    std::string requestId = invocation.flag("request");
    if (requestId.empty()) {
        const Json run = api.get("/v1/runs/" + encoded(runId));
        const Json pending = run.value("pending_human_requests", Json::array());
        if (pending.empty()) {
            throw AwError(
                kApiError,
                "run " + runId + " has no pending request (it is " + run.value("status", "?") + ")",
                "aw watch " + runId + " shows what it asks, when it does");
        }
        requestId = pending[0].value("request_id", "");
    }
    Json body = {{"request_id", requestId}, {"decision", decision}};
    if (!invocation.flag("message").empty()) body["message"] = invocation.flag("message");
    if (!invocation.answers.empty()) {
        Json answers = Json::array();
        for (const auto& label : invocation.answers) answers.push_back(Json::array({label}));
        body["answers"] = answers;
    }
    const Json answer = api.post("/v1/runs/" + encoded(runId) + "/human-reply", body);
    if (invocation.json) {
        out << answer.dump() << "\n";
    } else {
        out << "answered " << requestId << ": " << decision << "\n";
    }
    return kCompleted;
}

int runs(const ApiClient& api, const Invocation& invocation, std::ostream& out) {
    std::string path = "/v1/runs?limit=" +
                       encoded(invocation.flag("limit").empty() ? "20" : invocation.flag("limit"));
    if (!invocation.flag("session").empty())
        path += "&session_id=" + encoded(invocation.flag("session"));
    const Json answer = api.get(path);
    if (invocation.json) {
        out << answer.dump() << "\n";
        return kCompleted;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& run : answer.value("runs", Json::array())) {
        rows.push_back({text(run["run_id"]), text(run["session_id"]), text(run["provider"]),
                        text(run["status"]), text(run["created_at"]), text(run["finished_at"])});
    }
    printTable(out, {"RUN", "SESSION", "PROVIDER", "STATUS", "CREATED", "FINISHED"}, rows);
    return kCompleted;
}

int sessions(const ApiClient& api, const Invocation& invocation, std::ostream& out) {
    const Json answer =
        api.get("/v1/sessions?limit=" +
                encoded(invocation.flag("limit").empty() ? "20" : invocation.flag("limit")));
    if (invocation.json) {
        out << answer.dump() << "\n";
        return kCompleted;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& session : answer.value("sessions", Json::array())) {
        rows.push_back({text(session["session_id"]), text(session["status"]),
                        text(session["runtime"]), text(session["last_sync_status"]),
                        text(session["last_active_at"])});
    }
    printTable(out, {"SESSION", "WORKER", "RUNTIME", "LAST SYNC", "LAST ACTIVE"}, rows);
    return kCompleted;
}

int providers(const ApiClient& api, const Invocation& invocation, std::ostream& out) {
    const Json answer = api.get("/admin/providers");
    if (invocation.json) {
        out << answer.dump() << "\n";
        return kCompleted;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& provider : answer.value("providers", Json::array())) {
        std::string capabilities;
        for (const auto& capability : provider.value("capabilities", Json::array())) {
            capabilities += (capabilities.empty() ? "" : ",") + text(capability);
        }
        rows.push_back({text(provider["name"]), text(provider["version"]), text(provider["status"]),
                        text(provider["restarts"]), text(provider["in_flight"]), capabilities});
    }
    printTable(out, {"NAME", "VERSION", "STATUS", "RESTARTS", "IN FLIGHT", "CAPABILITIES"}, rows);
    return kCompleted;
}

}  // namespace

int runCommand(const Invocation& invocation, std::ostream& out) {
    const ApiClient api(invocation.endpoint);
    const std::string& command = invocation.command;
    if (command == "send") return send(api, invocation, out);
    if (command == "watch") {
        requireArgs(invocation, 1, "aw watch RUN");
        return follow(api, invocation.args[0], invocation.json, out);
    }
    if (command == "reply") return reply(api, invocation, out);
    if (command == "runs") return runs(api, invocation, out);
    if (command == "sessions") return sessions(api, invocation, out);
    if (command == "providers") return providers(api, invocation, out);
    throw AwError(kUsage, "unknown command '" + command + "'", "see aw --help");
}

}  // namespace aw::cli
