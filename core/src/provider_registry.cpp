#include "agent_worker/core/provider_registry.h"

#include "agent_worker/core/enum_names.h"

namespace aw {
namespace {

constexpr EnumNameTable<ProviderStatus, 6> kProviderStatusNames{{
    {ProviderStatus::Starting, "starting"},
    {ProviderStatus::Healthy, "healthy"},
    {ProviderStatus::Restarting, "restarting"},
    {ProviderStatus::Degraded, "degraded"},
    {ProviderStatus::Failed, "failed"},
    {ProviderStatus::Removed, "removed"},
}};

}  // namespace

std::string toString(ProviderStatus status) { return std::string(nameIn(kProviderStatusNames, status)); }

bool ProviderCallError::processFailed() const {
    const auto& code = problem().code;
    return code == "provider_crashed" || code == "provider_timeout" || code == "provider_protocol" ||
           code == "provider_unavailable" || code == "unknown_run";
}

}  // namespace aw
