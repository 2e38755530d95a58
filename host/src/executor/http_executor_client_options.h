// How calls to a worker's executor are made: the retry policy and the timeout of each
// operation. The defaults here are the configuration's defaults (host_config.cpp reads them
// from this struct).
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <string>

#include "agent_worker/core/retry_policy.h"

namespace aw {

struct HttpExecutorClientOptions {
    RetryPolicy retry;
    //! Per operation (`health`, `workspace.restore`, `workspace.sync`, `runs.start`, ...);
    //! operations not listed use `defaultTimeout`.
    std::map<std::string, std::chrono::milliseconds> timeouts{
        {"health", std::chrono::milliseconds(2000)},
        {"workspace.restore", std::chrono::minutes(10)},
        {"workspace.link", std::chrono::seconds(60)},
        {"workspace.validate", std::chrono::seconds(60)},
        {"workspace.sync", std::chrono::minutes(10)},
    };
    std::chrono::milliseconds defaultTimeout{30000};
    //! Waits between attempts; tests replace it to avoid sleeping.
    std::function<void(std::chrono::milliseconds)> sleep;
    //! Told of each workspace sync as it ends: its reason, how long it took, and the
    //! executor's answer (null when the sync failed). For metrics; must not throw.
    std::function<void(const std::string& reason, std::chrono::steady_clock::duration took,
                       const nlohmann::json* answer)>
        onSyncEnded;
};

}  // namespace aw
