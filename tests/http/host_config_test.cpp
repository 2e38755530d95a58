#include <gtest/gtest.h>

#include "agent_worker/core/problem.h"
#include "config/host_config.h"
#include "support/temp_dir.h"

namespace aw {
namespace {

std::string problemCode(const ConfigSources& sources) {
    try {
        loadHostConfig(sources);
    } catch (const ProblemError& e) {
        return e.problem().code + ": " + e.problem().message;
    }
    return "accepted";
}

TEST(HostConfig, DefaultsGiveTheEmbeddedSetup) {
    const auto config = loadHostConfig({"", {}, {}, "/opt/aw/bin/"});
    EXPECT_EQ(config.listen.url(), "http://127.0.0.1:8080");
    EXPECT_EQ(config.databaseUrl, "sqlite://./data/agent.db");
    EXPECT_EQ(config.pluginsDir, "/opt/aw/plugins");
    EXPECT_EQ(config.sqlDir, "/opt/aw/sql");
    EXPECT_TRUE(config.clientTokens.empty());
}

TEST(HostConfig, FlagsBeatEnvironmentWhichBeatsTheFileWhichBeatsDefaults) {
    test::TempDir dir;
    const auto file = dir.write("aw.json", R"({"listen": "127.0.0.1:9001", "data_dir": "/srv/file",
        "log_level": "debug", "http": {"max_body_bytes": 100, "threads": 3},
        "auth": {"admin_tokens": ["a1", "a2"]}})");
    const auto config = loadHostConfig({file.string(),
                                        {{"AW_DATA_DIR", "/srv/env"}, {"AW_HTTP_MAX_BODY_BYTES", "200"}},
                                        {{"data_dir", "/srv/flag"}},
                                        "/opt/aw/bin"});
    EXPECT_EQ(config.listen.port, 9001);                   // file over default
    EXPECT_EQ(config.logLevel, "debug");                   // file over default
    EXPECT_EQ(config.http.threads, 3);                      // nested file key
    EXPECT_EQ(config.maxBodyBytes, 200u);                  // env over file
    EXPECT_EQ(config.dataDir, "/srv/flag");                // flag over env over file
    EXPECT_EQ(config.databaseUrl, "sqlite:///srv/flag/agent.db");  // derived from data_dir
    EXPECT_EQ(config.adminTokens, (std::vector<std::string>{"a1", "a2"}));
}

TEST(HostConfig, EnvironmentListsAreCommaSeparated) {
    const auto config = loadHostConfig({"", {{"AW_AUTH_CLIENT_TOKENS", "c1, c2,,"}}, {}, ""});
    EXPECT_EQ(config.clientTokens, (std::vector<std::string>{"c1", "c2"}));
}

TEST(HostConfig, RedactedJsonNeverContainsTokensOrPasswords) {
    const auto config = loadHostConfig(
        {"", {{"AW_AUTH_CLIENT_TOKENS", "sekrit-client"}, {"AW_DB", "postgresql://u:pw@h/db"}}, {}, ""});
    const auto json = config.redactedJson();
    EXPECT_EQ(json.find("sekrit-client"), std::string::npos);
    EXPECT_EQ(json.find(":pw@"), std::string::npos);
    EXPECT_NE(json.find("1 configured"), std::string::npos);
}

TEST(HostConfig, BadInputIsRefusedNamingTheKeyOrFile) {
    EXPECT_EQ(problemCode({"/nonexistent/aw.json", {}, {}, ""}).rfind("config_unreadable", 0), 0u);
    test::TempDir dir;
    const auto broken = dir.write("broken.json", "{\"listen\": ");
    EXPECT_EQ(problemCode({broken.string(), {}, {}, ""}).rfind("config_unreadable", 0), 0u);
    EXPECT_NE(problemCode({"", {{"AW_HTTP_THREADS", "many"}}, {}, ""}).find("AW_HTTP_THREADS"),
              std::string::npos);
    EXPECT_NE(problemCode({"", {}, {{"log_level", "loud"}}, ""}).find("log_level"), std::string::npos);
    EXPECT_EQ(problemCode({"", {}, {{"listen", "localhost"}}, ""}).rfind("invalid_listen", 0), 0u);
    EXPECT_EQ(problemCode({"", {}, {{"listen", "127.0.0.1:99999"}}, ""}).rfind("invalid_listen", 0), 0u);
}

TEST(HostConfig, ExecutorRetryComesFromAwExecutorRetryVariables) {
    const auto config = loadHostConfig({"",
                                        {{"AW_EXECUTOR_RETRY_ATTEMPTS", "5"},
                                         {"AW_EXECUTOR_RETRY_BACKOFF_MS", "50"},
                                         {"AW_EXECUTOR_RETRY_STATUSES", "502,503"}},
                                        {},
                                        ""});
    EXPECT_EQ(config.executor.retry.maxAttempts, 5);
    EXPECT_EQ(config.executor.retry.initialBackoff.count(), 50);
    EXPECT_EQ(config.executor.retry.retryStatuses, (std::vector<int>{502, 503}));
    EXPECT_NE(problemCode({"", {{"AW_EXECUTOR_RETRY_STATUSES", "500,404"}}, {}, ""}).find("404"),
              std::string::npos)
        << "a 4xx may never be retried";
}

TEST(HostConfig, DockerSettingsAreReadAndCheckedAndTheSocketFollowsDockerHost) {
    const auto defaults = loadHostConfig({"", {}, {}, ""});
    EXPECT_EQ(defaults.runs.submission.placement.runtime, "local");
    EXPECT_EQ(defaults.docker.image, "agent-worker/worker:" + projectVersion());
    EXPECT_EQ(defaults.docker.network, "host");
    EXPECT_EQ(defaults.docker.user, "10001:10001");
    const auto config = loadHostConfig({"",
                                        {{"AW_RUNTIME", "docker"},
                                         {"AW_DOCKER_SOCKET", "/run/engine.sock"},
                                         {"AW_DOCKER_IMAGE", "aw/worker:test"},
                                         {"AW_DOCKER_NETWORK", "aw-workers"},
                                         {"AW_DOCKER_USER", "2000:3000"},
                                         {"AW_DOCKER_MEMORY_BYTES", "1073741824"},
                                         {"AW_DOCKER_CPUS", "1.5"},
                                         {"AW_DOCKER_PIDS_LIMIT", "100"},
                                         {"AW_DOCKER_STOP_GRACE_MS", "3000"}},
                                        {},
                                        ""});
    EXPECT_EQ(config.runs.submission.placement.runtime, "docker");
    EXPECT_EQ(config.docker.socketPath, "/run/engine.sock");
    EXPECT_EQ(config.docker.image, "aw/worker:test");
    EXPECT_EQ(config.docker.network, "aw-workers");
    EXPECT_EQ(config.docker.user, "2000:3000");
    EXPECT_EQ(config.docker.memoryBytes, 1073741824);
    EXPECT_DOUBLE_EQ(config.docker.cpus, 1.5);
    EXPECT_EQ(config.docker.pidsLimit, 100);
    EXPECT_EQ(config.docker.stopGrace.count(), 3000);
    EXPECT_NE(config.redactedJson().find("/run/engine.sock"), std::string::npos);
    // Unset, the socket comes from DOCKER_HOST (when it is a unix socket), else the default.
    EXPECT_EQ(resolveDockerSocket(defaults.docker.socketPath, "unix:///tmp/e.sock"), "/tmp/e.sock");
    EXPECT_EQ(resolveDockerSocket(defaults.docker.socketPath, nullptr), "/var/run/docker.sock");

    EXPECT_EQ(problemCode({"", {{"AW_RUNTIME", "kubernetes"}}, {}, ""}).rfind("config_invalid", 0),
              0u);
    for (const auto& [key, value] :
         std::vector<std::pair<std::string, std::string>>{{"AW_DOCKER_USER", "0:0"},
                                                          {"AW_DOCKER_USER", "agent"},
                                                          {"AW_DOCKER_CPUS", "lots"},
                                                          {"AW_DOCKER_CPUS", "0"},
                                                          {"AW_DOCKER_MEMORY_BYTES", "1024"},
                                                          {"AW_DOCKER_PIDS_LIMIT", "1"},
                                                          {"AW_DOCKER_IMAGE", ""}}) {
        EXPECT_NE(problemCode({"", {{key, value}}, {}, ""}).find(key), std::string::npos)
            << key << "=" << value << " was accepted";
    }
}

TEST(HostConfig, SwarmSettingsComeFromTheirKeys) {
    const auto defaults = loadHostConfig({"", {}, {}, ""});
    EXPECT_EQ(defaults.swarm.image, defaults.docker.image)
        << "swarm.image defaults to docker.image";
    EXPECT_EQ(defaults.swarm.network, "host");
    EXPECT_EQ(defaults.swarm.executorListen, "127.0.0.1:0");
    EXPECT_TRUE(defaults.swarm.constraints.empty());

    const auto config =
        loadHostConfig({"",
                        {{"AW_RUNTIME", "swarm"},
                         {"AW_SWARM_SOCKET", "/run/manager.sock"},
                         {"AW_SWARM_IMAGE", "aw/worker:swarm"},
                         {"AW_SWARM_NETWORK", "aw-workers"},
                         {"AW_SWARM_MEMORY_BYTES", "1073741824"},
                         {"AW_SWARM_MEMORY_RESERVATION_BYTES", "268435456"},
                         {"AW_SWARM_CPUS", "1.5"},
                         {"AW_SWARM_CPU_RESERVATION", "0.25"},
                         {"AW_SWARM_CONSTRAINTS", "node.labels.aw==workers, node.role==worker"},
                         {"AW_SWARM_HOST_URL", "http://10.0.0.1:8080/"},
                         {"AW_SWARM_EXECUTOR_LISTEN", "0.0.0.0:0"}},
                        {},
                        ""});
    EXPECT_EQ(config.runs.submission.placement.runtime, "swarm");
    EXPECT_EQ(config.swarm.socketPath, "/run/manager.sock");
    EXPECT_EQ(config.swarm.image, "aw/worker:swarm");
    EXPECT_EQ(config.swarm.network, "aw-workers");
    EXPECT_EQ(config.swarm.memoryBytes, 1073741824);
    EXPECT_EQ(config.swarm.memoryReservationBytes, 268435456);
    EXPECT_DOUBLE_EQ(config.swarm.cpus, 1.5);
    EXPECT_DOUBLE_EQ(config.swarm.cpuReservation, 0.25);
    EXPECT_EQ(config.swarm.constraints,
              (std::vector<std::string>{"node.labels.aw==workers", "node.role==worker"}));
    EXPECT_EQ(config.swarm.hostUrl, "http://10.0.0.1:8080");
    EXPECT_EQ(config.swarm.executorListen, "0.0.0.0:0");
    EXPECT_NE(config.redactedJson().find("node.labels.aw==workers"), std::string::npos);

    for (const auto& [key, value] :
         std::vector<std::pair<std::string, std::string>>{{"AW_SWARM_USER", "0:0"},
                                                          {"AW_SWARM_CPUS", "0"},
                                                          {"AW_SWARM_CPU_RESERVATION", "-1"},
                                                          {"AW_SWARM_MEMORY_BYTES", "1024"},
                                                          {"AW_SWARM_PIDS_LIMIT", "1"},
                                                          {"AW_SWARM_HOST_URL", "10.0.0.1:8080"},
                                                          {"AW_SWARM_EXECUTOR_LISTEN", "anywhere"},
                                                          {"AW_SWARM_NETWORK", ""}}) {
        EXPECT_NE(problemCode({"", {{key, value}}, {}, ""}).find(key), std::string::npos)
            << key << "=" << value << " was accepted";
    }
}

TEST(HostConfig, ListenAddressesKnowWhetherTheyAreLoopback) {
    EXPECT_TRUE(parseListenAddress("127.0.0.1:80").isLoopback());
    EXPECT_TRUE(parseListenAddress("127.9.9.9:80").isLoopback());
    EXPECT_TRUE(parseListenAddress("[::1]:80").isLoopback());
    EXPECT_TRUE(parseListenAddress("localhost:80").isLoopback());
    EXPECT_FALSE(parseListenAddress("0.0.0.0:80").isLoopback());
    EXPECT_FALSE(parseListenAddress("[::]:80").isLoopback());
    EXPECT_EQ(parseListenAddress("[::1]:8080").url(), "http://[::1]:8080");
}

}  // namespace
}  // namespace aw
