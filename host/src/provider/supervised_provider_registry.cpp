#include "provider/supervised_provider_registry.h"

namespace aw {
namespace {

ProviderListing listingOf(const ProviderSnapshot& snapshot) {
    return {snapshot.name, snapshot.status, snapshot.capabilities, snapshot.lastError};
}

//! A request in flight to a provider-host process.
class PendingProviderCall : public PendingPluginCall {
public:
    PendingProviderCall(std::shared_ptr<ProviderProcess> process, ProviderProcess::Ticket ticket)
        : process_(std::move(process)), ticket_(std::move(ticket)) {}
    nlohmann::json await() override { return process_->await(ticket_); }

private:
    std::shared_ptr<ProviderProcess> process_;
    ProviderProcess::Ticket ticket_;
};

//! One provider-host process, called with the registry's timeout.
class SupervisedPluginProcess : public PluginProcess {
public:
    SupervisedPluginProcess(std::shared_ptr<ProviderProcess> process, std::chrono::milliseconds timeout)
        : process_(std::move(process)), timeout_(timeout) {}

    std::uint64_t capabilities() const override { return process_->info().capabilities; }
    const nlohmann::json& facts() const override { return process_->info().facts; }
    bool failed() const override { return process_->failure().has_value(); }
    const void* identity() const override { return process_.get(); }
    std::unique_ptr<PendingPluginCall> submit(const std::string& op,
                                              nlohmann::json params) override {
        return std::make_unique<PendingProviderCall>(
            process_, process_->submit(op, std::move(params), timeout_));
    }

private:
    std::shared_ptr<ProviderProcess> process_;
    std::chrono::milliseconds timeout_;
};

}  // namespace

std::vector<ProviderListing> SupervisedProviderRegistry::list() const {
    std::vector<ProviderListing> listings;
    for (const auto& snapshot : supervisor_.list()) listings.push_back(listingOf(snapshot));
    return listings;
}

std::optional<ProviderListing> SupervisedProviderRegistry::find(const std::string& name) const {
    const auto snapshot = supervisor_.find(name);
    if (!snapshot) return std::nullopt;
    return listingOf(*snapshot);
}

std::shared_ptr<PluginProcess> SupervisedProviderRegistry::acquire(const std::string& name) {
    auto process = supervisor_.acquire(name);
    if (!process) return nullptr;
    return std::make_shared<SupervisedPluginProcess>(std::move(process), callTimeout_);
}

}  // namespace aw
