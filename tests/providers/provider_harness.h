// Test harness for provider plugins: loads build/plugins/<name>.so as agent-provider-host does
// (dlopen RTLD_NOW|RTLD_LOCAL, aw_provider_entry) and drives runs and recorded fixtures.
#pragma once

#include <agent_worker/provider_abi.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aw::provider_tests {

using Json = nlohmann::json;

//! The table of build/plugins/<name>.so, loaded once and never unloaded (like the host).
const aw_provider& loadProvider(const std::string& name);

//! What one plugin call returned; `document` is null when the call failed or its output was
//! not JSON (`outputIsJson` tells which).
struct CallResult {
    aw_status status = AW_OK;
    Json document;
    bool outputIsJson = false;
    std::string error;
};

//! One run of a plugin (open_run .. close_run) that records every event and stdin write.
class PluginRun {
public:
    PluginRun(const aw_provider& provider, const Json& request);
    //! From the request text as given, valid JSON or not.
    PluginRun(const aw_provider& provider, std::string_view requestText);
    ~PluginRun();
    PluginRun(const PluginRun&) = delete;
    PluginRun& operator=(const PluginRun&) = delete;

    bool opened() const { return run_ != nullptr; }
    const CallResult& openResult() const { return open_; }
    const Json& invocation() const { return open_.document; }

    CallResult feed(std::string_view line);
    CallResult exit(int exitCode, int signal, bool stopRequested);
    CallResult reply(std::string_view reply);
    CallResult interrupt();

    const std::vector<Json>& events() const { return events_; }
    std::vector<Json> eventsOfType(std::string_view type) const;
    //! The data of the one terminal event (null if there is not exactly one).
    Json terminal() const;
    std::vector<std::string> terminalTypes() const;
    //! Texts of message.stop events of the given kind, in order.
    std::vector<std::string> messageTexts(std::string_view kind = "text") const;
    //! Every "stdin" string the plugin asked the host to write (feed and reply).
    const std::vector<std::string>& stdinWrites() const { return stdinWrites_; }
    int closeStdinRequests() const { return closeStdinRequests_; }

private:
    CallResult collect(aw_status status, aw_buffer& buffer, const aw_error& error) const;
    //! Records the events and stdin requests of an output document.
    CallResult record(CallResult result);

    const aw_provider& provider_;
    aw_run* run_ = nullptr;
    CallResult open_;
    std::vector<Json> events_;
    std::vector<std::string> stdinWrites_;
    int closeStdinRequests_ = 0;
};

//! A recorded CLI run from tests/fixtures/providers.
struct Fixture {
    std::vector<std::string> lines;       // <name>.jsonl, one stdout line each
    Json meta;                            // <name>.meta.json
    std::vector<std::string> stdinLines;  // <name>.stdin.jsonl, when the run had one
    int exitCode() const;                 // -1 when the CLI died by a signal
    int signal() const;                   // 0 when it exited
    bool stopWasSent() const;             // the recorder signalled the CLI
};

Fixture loadFixture(const std::string& name);
//! Every fixture name (<name>.jsonl) in the directory, sorted.
std::vector<std::string> allFixtureNames();
std::string readFixtureFile(const std::string& fileName);

//! A JSON text written over several source lines, as the one stdout line a CLI prints.
std::string oneLine(std::string_view json);

//! {"run_id","session_id","prompt","workspace","approval_mode":"auto"} plus `overrides`.
Json runRequest(const Json& overrides = Json::object());

//! Feeds every line of the fixture, then exit_run with its recorded exit; stop requested when
//! the recorder signalled the CLI unless `stopRequested` says otherwise.
void replay(PluginRun& run, const Fixture& fixture,
            std::optional<bool> stopRequested = std::nullopt);

}  // namespace aw::provider_tests
