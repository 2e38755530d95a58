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
    std::chrono::milliseconds requestTimeout{30000};
    std::chrono::milliseconds heartbeatInterval{2000};
    std::chrono::milliseconds heartbeatTimeout{5000};
    //! The first crash within crashWindow restarts at once; the n-th (n > 1) waits
    //! Backoff{backoffInitial, backoffMax, backoffJitter}.after(n - 1) (restartDelay).
    std::chrono::milliseconds backoffInitial{200};
    std::chrono::milliseconds backoffMax{30000};
    double backoffJitter = 0.2;
    int crashLimit = 5;  //!< crashes within crashWindow that make a provider `degraded`
    std::chrono::milliseconds crashWindow{60000};
    std::chrono::milliseconds killGrace{2000};
    std::size_t maxResponseBytes = 32 * 1024 * 1024;
    bool watchDirectory = true;
};

}  // namespace aw
