// A provider plugin loaded into this process through the C ABI (Boost.DLL), checked and
// wrapped so that nothing it returns is trusted before it has been validated.
// Used by agent-provider-host (served and replay modes) and by the in-process benchmark.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "agent_worker/core/plugin_output_check.h"
#include "agent_worker/core/problem.h"
#include "agent_worker/provider_abi.h"

namespace aw {

//! What a provider says about itself (from its table).
struct ProviderInfo {
    std::string name;
    std::string version;
    int abiMajor = 0;
    int abiMinor = 0;
    std::uint64_t capabilities = 0;
    nlohmann::json facts = nlohmann::json::object();
};

//! True for `[a-z0-9][a-z0-9-]*` of at most AW_PROVIDER_NAME_MAX characters.
bool isValidProviderName(std::string_view name);

//! A plugin call that failed: the plugin's own error, or output that broke the rules.
class PluginCallError : public ProblemError {
public:
    using ProblemError::ProblemError;
};

//! An output document the check rejected (`invalid_plugin_output`): its events are dropped,
//! but what it asked for the CLI's stdin is kept, well formed, for whoever answers the CLI
//! (holding back an answer to the CLI's protocol would only leave it waiting).
class RejectedOutputError : public PluginCallError {
public:
    RejectedOutputError(Problem problem, std::string stdinBytes, bool closeStdin)
        : PluginCallError(std::move(problem)),
          stdinBytes_(std::move(stdinBytes)),
          closeStdin_(closeStdin) {}
    const std::string& stdinBytes() const noexcept { return stdinBytes_; }
    bool closeStdin() const noexcept { return closeStdin_; }

private:
    std::string stdinBytes_;
    bool closeStdin_;
};

//! checkPluginOutput (core/plugin_output_check.h) as an exception: throws RejectedOutputError
//! with the check's reason when it rejects `output`.
void validateOutputDocument(const nlohmann::json& output, PluginCall call, std::size_t maxEvents);

//! Limits on what one plugin call may return.
struct PluginOutputLimits {
    std::size_t maxBytes = 16 * 1024 * 1024;
    std::size_t maxEvents = kMaxEventsPerPluginOutput;
};

class LoadedProvider {
public:
    //! Loads `path` (RTLD_NOW | RTLD_LOCAL) and checks its table. Throws ProblemError with
    //! code `plugin_load_failed`, `missing_entry`, `entry_returned_null`, `abi_mismatch`,
    //! `table_too_small` or `invalid_name`, naming the file and the precise reason.
    //! The library is never unloaded: the process exits instead.
    static std::unique_ptr<LoadedProvider> load(const std::string& path,
                                                PluginOutputLimits limits = {});

    const ProviderInfo& info() const { return info_; }

    //! Per-run translator calls. Each returns the plugin's JSON output after the check and
    //! throws PluginCallError when the plugin fails or its output is rejected.
    aw_run* open(const nlohmann::json& request, nlohmann::json& invocation);
    nlohmann::json feed(aw_run* run, std::string_view line);
    //! feed(), as the plugin's own text, checked only for the call's status and the size
    //! limit: agent-provider-host forwards it as is. agent-host parses and checks it itself
    //! (PluginOutputGate), as it must not trust what leaves the process a plugin runs in, so
    //! a parse and a check here would be done twice.
    std::string feedText(aw_run* run, std::string_view line);
    nlohmann::json exit(aw_run* run, int exitCode, int signal, bool stopRequested);
    nlohmann::json reply(aw_run* run, const nlohmann::json& answer);
    nlohmann::json interrupt(aw_run* run);
    void close(aw_run* run);

private:
    LoadedProvider(const aw_provider* table, ProviderInfo info, PluginOutputLimits limits);
    //! Copies and releases a plugin buffer; throws unless the call succeeded with text
    //! within the size limit (parseOutput() says whether it is JSON).
    std::string takeText(const char* operation, aw_status status, aw_buffer& buffer,
                         const aw_error& error);
    //! The plugin's text as JSON; throws `invalid_plugin_output` when it is not JSON.
    nlohmann::json parseOutput(const char* operation, const std::string& text) const;
    //! Calls feed; `text` receives the plugin's text, the result is its checked document.
    nlohmann::json feedDocument(aw_run* run, std::string_view line, std::string& text);
    //! takeText(), parsed, and checked when it is the output document of `document`.
    nlohmann::json take(const char* operation, aw_status status, aw_buffer& buffer,
                        const aw_error& error, std::optional<PluginCall> document);

    const aw_provider* table_;
    ProviderInfo info_;
    PluginOutputLimits limits_;
};

}  // namespace aw
