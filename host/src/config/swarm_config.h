// The swarm runtime's keys (swarm.*): their table for --help and docs/configuration.md, and
// reading them into SwarmRuntimeOptions. Apart from host_config.cpp, which reads the rest.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "runtime/swarm_worker_runtime.h"

namespace aw {

struct ConfigKey;

//! How the keys are looked up: a scalar as text and a list, by dotted name.
struct SwarmConfigSource {
    std::function<std::string(const char* key)> text;
    std::function<std::vector<std::string>(const char* key)> list;
};

//! The swarm.* rows of the key table, defaults from SwarmRuntimeOptions.
std::vector<ConfigKey> swarmConfigKeys();
//! swarm.*; throws ProblemError `config_invalid` naming the key of a bad value. The socket is
//! resolved (swarm.socket, DOCKER_HOST, the default) only when `selected` (runtime: swarm).
SwarmRuntimeOptions readSwarmConfig(const SwarmConfigSource& source, bool selected);
//! The effective swarm.* for /admin/config and the start log (no secrets in them).
nlohmann::json swarmConfigJson(const SwarmRuntimeOptions& swarm);

}  // namespace aw
