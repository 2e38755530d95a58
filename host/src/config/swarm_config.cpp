#include "config/swarm_config.h"

#include <cmath>
#include <cstdlib>

#include "agent_worker/core/problem.h"
#include "config/host_config.h"
#include "runtime/docker_worker_runtime.h"

namespace aw {
namespace {

//! The same shape as the other keys' refusals (host_config.cpp).
ProblemError invalid(const std::string& key, const std::string& value, const std::string& why) {
    return ProblemError({"config_invalid",
                         "configuration key '" + key + "' (" + envName(key) + ") has the value '" +
                             value + "': " + why,
                         "see docs/configuration.md for the accepted values"});
}

long long wholeNumber(const std::string& key, const std::string& value, long long min,
                      long long max) {
    std::size_t used = 0;
    long long number = 0;
    try {
        number = std::stoll(value, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used == 0 || used != value.size() || number < min || number > max) {
        throw invalid(
            key, value,
            "expected a whole number " + std::to_string(min) + ".." + std::to_string(max));
    }
    return number;
}

double cpus(const std::string& key, const std::string& value, double min) {
    std::size_t used = 0;
    double number = -1;
    try {
        number = std::stod(value, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used == 0 || used != value.size() || !(number >= min && number <= 1024)) {
        throw invalid(key, value, "expected a number of CPUs up to 1024");
    }
    return number;
}

std::string cpusText(double value) {
    std::string text = std::to_string(value);
    text.erase(text.find_last_not_of('0') + 1);
    if (text.back() == '.') text.pop_back();
    return text;
}

}  // namespace

std::vector<ConfigKey> swarmConfigKeys() {
    const SwarmRuntimeOptions swarm;
    auto number = [](std::int64_t value) { return std::to_string(value); };
    return {
        {"swarm.socket", "",
         "a swarm manager's Docker socket; default: DOCKER_HOST when it is unix://..., else "
         "/var/run/docker.sock"},
        {"swarm.image", "",
         "worker image, on every node (default: docker.image); see docs/swarm-runtime.md"},
        {"swarm.network", swarm.network,
         "network of worker tasks: host (executors listen and call back on the node's "
         "loopback) or an overlay network"},
        {"swarm.user", swarm.user, "uid:gid worker tasks run as (numeric, not root)"},
        {"swarm.memory_bytes", number(swarm.memoryBytes), "memory limit per worker task"},
        {"swarm.memory_reservation_bytes", number(swarm.memoryReservationBytes),
         "memory a node must have free to take a worker task"},
        {"swarm.cpus", cpusText(swarm.cpus), "CPU limit per worker task"},
        {"swarm.cpu_reservation", cpusText(swarm.cpuReservation),
         "CPUs a node must have free to take a worker task"},
        {"swarm.pids_limit", number(swarm.pidsLimit), "processes per worker task"},
        {"swarm.constraints", "",
         "placement constraints of worker tasks (node.labels.aw==workers, node.role==worker)",
         true},
        {"swarm.stop_grace_ms", std::to_string(swarm.stopGrace.count()),
         "a stopped worker task gets SIGTERM, then SIGKILL after this"},
        {"swarm.start_timeout_ms", std::to_string(swarm.startTimeout.count()),
         "a start fails when the executor has not answered after this"},
        {"swarm.tmp_bytes", number(swarm.tmpBytes), "size of a worker task's tmpfs /tmp"},
        {"swarm.state_bytes", number(swarm.stateBytes),
         "size of a worker task's tmpfs /aw/state (the executor's spool)"},
        {"swarm.host_url", "",
         "agent-host's URL as worker tasks reach it, for callbacks and the bootstrap exchange "
         "(http://10.0.0.5:8080); default: http://127.0.0.1:<listen port>"},
        {"swarm.executor_listen", swarm.executorListen,
         "where the executor listens in its task (port 0: it picks one and reports it)"},
    };
}

SwarmRuntimeOptions readSwarmConfig(const SwarmConfigSource& source, bool selected) {
    SwarmRuntimeOptions swarm;
    swarm.socketPath = source.text("swarm.socket");
    if (selected)
        swarm.socketPath = resolveDockerSocket(swarm.socketPath, std::getenv("DOCKER_HOST"));
    swarm.image = source.text("swarm.image");
    if (swarm.image.empty()) swarm.image = source.text("docker.image");
    swarm.network = source.text("swarm.network");
    if (swarm.network.empty()) throw invalid("swarm.network", "", "must not be empty");
    swarm.user = source.text("swarm.user");
    try {
        parseDockerUser(swarm.user);
    } catch (const ProblemError&) {
        throw invalid("swarm.user", swarm.user, "expected a non-root uid:gid in numbers");
    }
    auto number = [&](const char* key, long long min, long long max) {
        return wholeNumber(key, source.text(key), min, max);
    };
    swarm.memoryBytes = number("swarm.memory_bytes", 6 * 1024 * 1024, 1LL << 50);
    swarm.memoryReservationBytes = number("swarm.memory_reservation_bytes", 0, 1LL << 50);
    swarm.cpus = cpus("swarm.cpus", source.text("swarm.cpus"), 0.01);
    swarm.cpuReservation = cpus("swarm.cpu_reservation", source.text("swarm.cpu_reservation"), 0);
    swarm.pidsLimit = number("swarm.pids_limit", 16, 4194304);
    swarm.constraints = source.list("swarm.constraints");
    swarm.stopGrace = std::chrono::milliseconds(number("swarm.stop_grace_ms", 0, 3600000));
    swarm.startTimeout = std::chrono::milliseconds(number("swarm.start_timeout_ms", 1, 3600000));
    swarm.tmpBytes = number("swarm.tmp_bytes", 1024 * 1024, 1LL << 40);
    swarm.stateBytes = number("swarm.state_bytes", 1024 * 1024, 1LL << 40);
    swarm.hostUrl = source.text("swarm.host_url");
    while (!swarm.hostUrl.empty() && swarm.hostUrl.back() == '/') swarm.hostUrl.pop_back();
    if (!swarm.hostUrl.empty() && swarm.hostUrl.rfind("http://", 0) != 0)
        throw invalid("swarm.host_url", swarm.hostUrl, "expected an http:// URL");
    swarm.executorListen = source.text("swarm.executor_listen");
    if (swarm.executorListen.find(':') == std::string::npos)
        throw invalid("swarm.executor_listen", swarm.executorListen, "expected HOST:PORT");
    return swarm;
}

nlohmann::json swarmConfigJson(const SwarmRuntimeOptions& swarm) {
    return {{"socket", swarm.socketPath},
            {"image", swarm.image},
            {"network", swarm.network},
            {"user", swarm.user},
            {"memory_bytes", swarm.memoryBytes},
            {"memory_reservation_bytes", swarm.memoryReservationBytes},
            {"cpus", swarm.cpus},
            {"cpu_reservation", swarm.cpuReservation},
            {"pids_limit", swarm.pidsLimit},
            {"constraints", swarm.constraints},
            {"stop_grace_ms", swarm.stopGrace.count()},
            {"start_timeout_ms", swarm.startTimeout.count()},
            {"tmp_bytes", swarm.tmpBytes},
            {"state_bytes", swarm.stateBytes},
            {"host_url", swarm.hostUrl},
            {"executor_listen", swarm.executorListen}};
}

}  // namespace aw
