// The ProviderRegistry port over ProviderSupervisor: the run path's view of the providers
// agent-host supervises, each plugin call bounded by the request timeout.
#pragma once

#include <chrono>

#include "agent_worker/core/provider_registry.h"
#include "provider/provider_supervisor.h"

namespace aw {

class SupervisedProviderRegistry : public ProviderRegistry {
public:
    SupervisedProviderRegistry(ProviderSupervisor& supervisor, std::chrono::milliseconds callTimeout)
        : supervisor_(supervisor), callTimeout_(callTimeout) {}

    std::vector<ProviderListing> list() const override;
    std::optional<ProviderListing> find(const std::string& name) const override;
    std::shared_ptr<PluginProcess> acquire(const std::string& name) override;

private:
    ProviderSupervisor& supervisor_;
    std::chrono::milliseconds callTimeout_;
};

}  // namespace aw
