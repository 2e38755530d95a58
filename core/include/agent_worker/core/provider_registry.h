// The port to the loaded providers, as the run path sees them: which exist and in what
// state, and a handle to call a provider's plugin in its own process. host/ implements it
// with ProviderSupervisor; unit tests with doubles.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent_worker/core/problem.h"

namespace aw {

enum class ProviderStatus { Starting, Healthy, Restarting, Degraded, Failed, Removed };
std::string toString(ProviderStatus status);

//! One loaded (or loading) plugin file.
struct ProviderListing {
    std::optional<std::string> name;  //!< known once its handshake named it
    ProviderStatus status = ProviderStatus::Starting;
    std::uint64_t capabilities = 0;
    std::string lastError;
};

//! A request to a provider's process that got no good answer: `provider_timeout`,
//! `provider_crashed`, `provider_protocol` (the child broke the protocol) or the
//! provider-host's own code (e.g. `plugin_error`, `invalid_input`) for a request it
//! rejected. `processFailed()`: the process failed as a whole (everything in flight with
//! it), as opposed to the plugin rejecting this one request.
class ProviderCallError : public ProblemError {
public:
    using ProblemError::ProblemError;
    bool processFailed() const;
};

//! A request sent to a plugin's process and not answered yet (PluginProcess::submit).
class PendingPluginCall {
public:
    virtual ~PendingPluginCall() = default;
    //! Waits for the answer, once; throws ProviderCallError when there is no good one.
    virtual nlohmann::json await() = 0;
};

//! One running process of a provider's plugin. Calls are JSON requests (`open`, `feed`,
//! `exit`, `reply`, `interrupt`, `close`) answered by the plugin; each throws
//! ProviderCallError when it gets no good answer.
class PluginProcess {
public:
    virtual ~PluginProcess() = default;
    virtual std::uint64_t capabilities() const = 0;
    //! The plugin's facts: env_vars, state_paths, binaries...
    virtual const nlohmann::json& facts() const = 0;
    //! True once the process failed; a new one may be serving the provider already.
    virtual bool failed() const = 0;
    //! Stable for the life of the process: tells a restarted process from the old one.
    virtual const void* identity() const = 0;
    //! Sends a request without waiting for its answer. The process answers requests in the
    //! order sent, so a caller may keep the next one in flight while it handles the last
    //! answer. Throws ProviderCallError when the request cannot be sent.
    virtual std::unique_ptr<PendingPluginCall> submit(const std::string& op,
                                                      nlohmann::json params) = 0;
    nlohmann::json call(const std::string& op, nlohmann::json params) {
        return submit(op, std::move(params))->await();
    }
};

class ProviderRegistry {
public:
    virtual ~ProviderRegistry() = default;
    virtual std::vector<ProviderListing> list() const = 0;
    virtual std::optional<ProviderListing> find(const std::string& name) const = 0;
    //! The process serving `name` now; nullptr while it is (re)starting. Throws ProblemError
    //! when the provider is unknown or cannot serve (degraded, failed, removed).
    virtual std::shared_ptr<PluginProcess> acquire(const std::string& name) = 0;
};

}  // namespace aw
