#include "support/replica_cluster.h"

#include <stdexcept>

namespace aw::test {

ReplicaCluster::ReplicaCluster(HostSpec shared, int count, const std::string& hostIdPrefix,
                               DataDirs dataDirs) {
    if (nginxBinary().empty()) {
        throw std::runtime_error(
            "nginx is missing: install Debian's nginx (scripts/install-deps.sh test)");
    }
    const unsigned short balancerPort = freeLoopbackPort();
    shared.env["AW_PUBLIC_URL"] = "http://127.0.0.1:" + std::to_string(balancerPort);
    std::vector<unsigned short> ports;
    for (int i = 0; i < count; ++i) {
        HostSpec own = shared;
        own.env["AW_HOST_ID"] = hostIdPrefix + "-" + std::to_string(i);
        if (dataDirs == DataDirs::OwnEach)
            own.dataDir = shared.dataDir / ("replica-" + std::to_string(i));
        replicas_.push_back(std::make_unique<AgentHost>(own));
        replicas_.back()->waitProvidersHealthy(1);
        ports.push_back(replicas_.back()->port());
    }
    balancer_ = std::make_unique<NginxProxy>(ports, balancerPort);
}

AgentHost* ReplicaCluster::driverOf(const std::string& runId) const {
    std::string holder;
    const auto listed = replicas_.front()->get("/v1/run-queue?status=claimed&limit=1000");
    for (const auto& entry : listed.json().value("entries", Json::array())) {
        if (entry.value("run_id", "") == runId && entry["locked_by"].is_string())
            holder = entry["locked_by"];
    }
    for (const auto& replica : replicas_) {
        if (!holder.empty() && replica->launch().env.at("AW_HOST_ID") == holder)
            return replica.get();
    }
    return nullptr;
}

std::vector<AgentHost*> ReplicaCluster::allBut(const AgentHost* excluded) const {
    std::vector<AgentHost*> others;
    for (const auto& replica : replicas_) {
        if (replica.get() != excluded) others.push_back(replica.get());
    }
    return others;
}

bool ReplicaCluster::tookOver(const std::vector<AgentHost*>& replicas) {
    for (const auto* replica : replicas) {
        if (replica->log().find("\"taking a run over\"") != std::string::npos) return true;
    }
    return false;
}

}  // namespace aw::test
