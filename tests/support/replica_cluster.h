// Replicas of agent-host behind nginx (round robin), which is also where their executors post
// callbacks (`public_url`): what the replica tests and the replica bench start, and what they
// ask of it (which replica drives a run, whether another took it over).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "support/agent_host_harness.h"
#include "support/nginx_proxy.h"

namespace aw::test {

class ReplicaCluster {
public:
    //! Whether the replicas share `shared`'s data dir (one machine) or each has its own
    //! under it, `replica-<i>` (as on machines of their own).
    enum class DataDirs { Shared, OwnEach };

    //! Starts `count` replicas of `shared` (its database, cluster_id and settings), each with
    //! host id `<hostIdPrefix>-<i>` and providers healthy, then nginx in front of them on a
    //! port chosen first. Throws std::runtime_error when nginx is missing.
    ReplicaCluster(HostSpec shared, int count, const std::string& hostIdPrefix,
                   DataDirs dataDirs = DataDirs::Shared);

    std::vector<std::unique_ptr<AgentHost>>& replicas() { return replicas_; }
    AgentHost& operator[](std::size_t i) { return *replicas_.at(i); }
    NginxProxy& balancer() { return *balancer_; }

    //! The replica holding the run's queue entry (GET /v1/run-queue); null when none does.
    AgentHost* driverOf(const std::string& runId) const;
    //! Every replica but `excluded`.
    std::vector<AgentHost*> allBut(const AgentHost* excluded) const;
    //! Whether one of `replicas` logged taking a run over.
    static bool tookOver(const std::vector<AgentHost*>& replicas);

private:
    std::vector<std::unique_ptr<AgentHost>> replicas_;
    std::unique_ptr<NginxProxy> balancer_;
};

}  // namespace aw::test
