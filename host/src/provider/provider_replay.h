// Runs recorded CLI output through a provider process: open, feed in batches, exit,
// close. Serves POST /admin/providers/{name}/replay and the benchmark.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "provider/provider_process.h"

namespace aw {

struct ReplayInput {
    nlohmann::json request = nlohmann::json::object();  //!< run request for open
    std::vector<std::string> lines;
    int exitCode = 0;
    int signal = 0;
    bool stopRequested = false;
    std::size_t batchLines = 64;  //!< lines per feed request
    std::size_t maxEventsPerLine = PluginOutputLimits{}.maxEvents;
    std::chrono::milliseconds requestTimeout{30000};
};

struct ReplayResult {
    nlohmann::json invocation;
    nlohmann::json events = nlohmann::json::array();
    nlohmann::json stdinWrites = nlohmann::json::array();  //!< bytes for the CLI's stdin
    nlohmann::json lineErrors = nlohmann::json::array();   //!< {"line": n, "error": {...}}
};

//! Throws ProviderCallError when the provider fails; a line the plugin rejects is
//! recorded in lineErrors and the replay goes on.
ReplayResult replayThroughProvider(ProviderProcess& provider, const ReplayInput& input);

}  // namespace aw
