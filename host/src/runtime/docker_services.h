// The Docker Engine API's Swarm calls the `swarm` worker runtime needs, beside the container
// calls of DockerEngine and over the same socket (a manager's): the swarm itself (init,
// leave, whether this engine manages one), services (create, inspect, update at their
// version index, remove) and their tasks. Failures are ProblemError `runtime_unavailable`
// in the engine's words with what to do; removing a missing service succeeds.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "runtime/docker_engine.h"

namespace aw {

//! What inspect says about a service.
struct ServiceStatus {
    std::string id;
    std::string name;
    std::uint64_t version = 0;  //!< the index an update must name
    std::int64_t replicas = 0;  //!< wanted (Spec.Mode.Replicated.Replicas)
    nlohmann::json spec;        //!< the whole Spec, to be changed and sent back
};

//! One task of a service: a container's life on one node.
struct TaskStatus {
    std::string id;
    std::string state;         //!< new ... running, complete, failed, shutdown, rejected, orphaned
    std::string desiredState;  //!< running, shutdown, remove
    std::string containerId;   //!< empty before the node made the container
    std::string nodeId;
    std::string error;  //!< why it failed, in the engine's words
    int exitCode = 0;
};

//! Parses a service inspect document (GET /services/{id}).
ServiceStatus parseServiceStatus(const nlohmann::json& inspect);
//! Parses a task of GET /tasks.
TaskStatus parseTaskStatus(const nlohmann::json& task);

class DockerServices {
public:
    explicit DockerServices(DockerEngine& engine) : engine_(engine) {}

    //! Whether this engine is a manager of an active swarm (GET /info).
    bool isSwarmManager();
    //! Throws `runtime_unavailable` saying how to make one when it is not.
    void requireSwarmManager();
    //! POST /swarm/init (`docker swarm init --listen-addr ... --advertise-addr ...`): the
    //! managers' API on `listenAddress` (host:port), advertised as `advertiseAddress`.
    //! Returns the node id.
    std::string initSwarm(const std::string& listenAddress, const std::string& advertiseAddress);
    //! POST /swarm/leave (`force`: a manager, its services gone with it). Not in a swarm is
    //! not an error.
    void leaveSwarm(bool force);

    //! POST /services/create: returns the id; a taken name throws `service_exists`.
    std::string createService(const nlohmann::json& spec);
    //! nullopt when there is no such service.
    std::optional<ServiceStatus> inspectService(const std::string& idOrName);
    //! POST /services/{id}/update?version=: `spec` replaces the service's. A version that is
    //! not the service's current one (someone updated it meanwhile) throws `service_changed`.
    void updateService(const std::string& id, std::uint64_t version, const nlohmann::json& spec);
    //! DELETE /services/{id}; a missing service succeeds.
    void removeService(const std::string& idOrName);
    //! Services carrying all of `labels`.
    std::vector<ServiceStatus> listServices(const std::map<std::string, std::string>& labels);
    //! The service's tasks (GET /tasks?filters={"service":[...]}), in no particular order.
    std::vector<TaskStatus> serviceTasks(const std::string& serviceName);
    //! Whether the node is known and not down (a node that left or lost its manager is down).
    bool nodeIsUp(const std::string& nodeId);
    //! The id of the network named `name` (`host`: the swarm's host network).
    std::string networkId(const std::string& name);

private:
    DockerEngine& engine_;
};

}  // namespace aw
