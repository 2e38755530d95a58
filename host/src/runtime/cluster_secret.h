// The cluster's secret: what the replicas of agent-host share so that each can present the
// tokens the others issued to workers (runtime/executor_directory.h). Configured
// (`cluster_secret`, the same on every replica), or made once in the data dir, which is
// enough for replicas that share it.
#pragma once

#include <filesystem>
#include <string>

namespace aw {

//! `configured` when set; otherwise <data dir>/cluster-secret, made (0600, random) when
//! missing. Throws ProblemError when the file cannot be read or made.
std::string clusterSecret(const std::string& configured, const std::filesystem::path& dataDir);

}  // namespace aw
