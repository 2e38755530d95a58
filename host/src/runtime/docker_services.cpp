#include "runtime/docker_services.h"

#include <Poco/URI.h>

#include "agent_worker/core/problem.h"

namespace aw {
namespace {

const std::string kSwarmHint =
    "make this engine a swarm manager (docker swarm init --advertise-addr <address>, see "
    "docs/swarm-runtime.md) or point swarm.socket at a manager's socket";

std::string encoded(const std::string& text) {
    std::string out;
    Poco::URI::encode(text, "!#$&'()*+,/:;=?@[]{}\" ", out);
    return out;
}

nlohmann::json parsed(const std::string& body) {
    return nlohmann::json::parse(body, nullptr, false);
}

}  // namespace

ServiceStatus parseServiceStatus(const nlohmann::json& inspect) {
    ServiceStatus status;
    status.id = inspect.value("ID", "");
    status.spec = inspect.value("Spec", nlohmann::json::object());
    status.name = status.spec.value("Name", "");
    if (inspect.contains("Version") && inspect["Version"].is_object())
        status.version = inspect["Version"].value("Index", std::uint64_t{0});
    const auto mode = status.spec.value("Mode", nlohmann::json::object());
    if (mode.contains("Replicated") && mode["Replicated"].is_object())
        status.replicas = mode["Replicated"].value("Replicas", std::int64_t{0});
    return status;
}

TaskStatus parseTaskStatus(const nlohmann::json& task) {
    TaskStatus status;
    status.id = task.value("ID", "");
    status.desiredState = task.value("DesiredState", "");
    status.nodeId = task.value("NodeID", "");
    const auto state = task.value("Status", nlohmann::json::object());
    status.state = state.value("State", "");
    status.error = state.value("Err", "");
    const auto container = state.value("ContainerStatus", nlohmann::json::object());
    status.containerId = container.value("ContainerID", "");
    status.exitCode = container.value("ExitCode", 0);
    return status;
}

bool DockerServices::isSwarmManager() {
    const auto response = engine_.call("GET", "/info");
    if (response.status != 200) engine_.fail("report its state", response);
    const auto swarm = parsed(response.body).value("Swarm", nlohmann::json::object());
    return swarm.value("LocalNodeState", "") == "active" && swarm.value("ControlAvailable", false);
}

void DockerServices::requireSwarmManager() {
    if (!isSwarmManager()) {
        throw ProblemError({"runtime_unavailable",
                            "the Docker engine at " + engine_.socketPath() +
                                " is not a manager of an active swarm",
                            kSwarmHint});
    }
}

std::string DockerServices::initSwarm(const std::string& listenAddress,
                                      const std::string& advertiseAddress) {
    const nlohmann::json body{{"ListenAddr", listenAddress}, {"AdvertiseAddr", advertiseAddress}};
    const auto response = engine_.call("POST", "/swarm/init", body.dump());
    if (response.status != 200) engine_.fail("initialise a swarm", response);
    return parsed(response.body).is_string() ? parsed(response.body).get<std::string>() : "";
}

void DockerServices::leaveSwarm(bool force) {
    const auto response =
        engine_.call("POST", std::string("/swarm/leave?force=") + (force ? "1" : "0"));
    // 503: this node is not part of a swarm.
    if (response.status != 200 && response.status != 503) engine_.fail("leave the swarm", response);
}

std::string DockerServices::createService(const nlohmann::json& spec) {
    const auto response = engine_.call("POST", "/services/create", spec.dump());
    if (response.status == 201) return parsed(response.body).value("ID", "");
    const std::string name = spec.value("Name", "");
    if (response.status == 409) {
        throw ProblemError({"service_exists", "a service named " + name + " exists already",
                            "remove it (docker service rm " + name + ") or use it"});
    }
    engine_.fail("create service " + name, response,
                 response.status == 503 ? kSwarmHint : "check the service spec and the image");
}

std::optional<ServiceStatus> DockerServices::inspectService(const std::string& idOrName) {
    const auto response = engine_.call("GET", "/services/" + encoded(idOrName));
    if (response.status == 404) return std::nullopt;
    if (response.status != 200) engine_.fail("inspect service " + idOrName, response, kSwarmHint);
    return parseServiceStatus(parsed(response.body));
}

void DockerServices::updateService(const std::string& id, std::uint64_t version,
                                   const nlohmann::json& spec) {
    const auto response = engine_.call(
        "POST", "/services/" + encoded(id) + "/update?version=" + std::to_string(version),
        spec.dump());
    if (response.status == 200) return;
    // An update naming an old version is refused: someone changed the service meanwhile.
    if (response.status == 500 &&
        response.body.find("update out of sequence") != std::string::npos) {
        throw ProblemError({"service_changed",
                            "service " + id + " changed while it was being updated",
                            "inspect it again and retry"});
    }
    engine_.fail("update service " + id, response);
}

void DockerServices::removeService(const std::string& idOrName) {
    const auto response = engine_.call("DELETE", "/services/" + encoded(idOrName));
    if (response.status != 200 && response.status != 404)
        engine_.fail("remove service " + idOrName, response);
}

std::vector<ServiceStatus> DockerServices::listServices(
    const std::map<std::string, std::string>& labels) {
    const auto response = engine_.call("GET", "/services?filters=" + encoded(labelFilter(labels)));
    if (response.status != 200) engine_.fail("list services", response, kSwarmHint);
    std::vector<ServiceStatus> out;
    for (const auto& item : parsed(response.body)) out.push_back(parseServiceStatus(item));
    return out;
}

std::vector<TaskStatus> DockerServices::serviceTasks(const std::string& serviceName) {
    const nlohmann::json filter{{"service", {serviceName}}};
    const auto response = engine_.call("GET", "/tasks?filters=" + encoded(filter.dump()));
    if (response.status != 200) engine_.fail("list the tasks of " + serviceName, response);
    const auto tasks = parsed(response.body);
    std::vector<TaskStatus> out;
    if (!tasks.is_array()) return out;
    for (const auto& task : tasks) out.push_back(parseTaskStatus(task));
    return out;
}

bool DockerServices::nodeIsUp(const std::string& nodeId) {
    if (nodeId.empty()) return false;
    const auto response = engine_.call("GET", "/nodes/" + encoded(nodeId));
    if (response.status == 404) return false;
    if (response.status != 200) engine_.fail("inspect node " + nodeId, response);
    const auto node = parsed(response.body);
    return node.value("Status", nlohmann::json::object()).value("State", "") != "down";
}

std::string DockerServices::networkId(const std::string& name) {
    const auto response = engine_.call("GET", "/networks/" + encoded(name));
    if (response.status != 200) engine_.fail("inspect network " + name, response);
    return parsed(response.body).value("Id", "");
}

}  // namespace aw
