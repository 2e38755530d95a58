// How ProviderSupervisor runs the provider processes: where the plugins are, the start,
// request and heartbeat limits, the restart backoff and the crash limit. The defaults here
// are the configuration's defaults (host_config.cpp reads them from this struct).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace aw {

struct ProviderSupervisorOptions {
    std::string pluginsDir;
    std::string providerHostBinary;
    std::chrono::milliseconds startTimeout{10000};

}  // namespace aw
