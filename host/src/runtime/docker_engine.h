// A small Docker Engine API client over the engine's unix socket (Poco; no `docker` command).
// Every path carries the API version Debian 12's docker.io (20.10) speaks, so a newer engine
// answers as that one did. Failures are ProblemError `runtime_unavailable` saying what was
// wrong and what to do; the idempotent cases the worker runtime needs (starting a running
// container, stopping a stopped one, removing a missing one) are not failures.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aw {

//! The Engine API version in every request path.
inline constexpr std::string_view kDockerApiVersion = "1.41";
inline constexpr std::string_view kDefaultDockerSocket = "/var/run/docker.sock";

//! The engine's socket: `configured` (docker.socket, AW_DOCKER_SOCKET) when set, else the
//! path of `dockerHost` (the DOCKER_HOST variable) when it is `unix://...`, else
//! /var/run/docker.sock. Throws ProblemError `config_invalid` for a DOCKER_HOST that is not a
//! unix socket while docker.socket is unset.
std::string resolveDockerSocket(const std::string& configured, const char* dockerHost);

//! What inspect says about a container.
struct ContainerStatus {
    std::string id;
    std::string name;    //!< without the leading '/'
    std::string status;  //!< created, running, paused, restarting, removing, exited, dead
    bool running = false;
    int exitCode = 0;
    std::map<std::string, std::string> labels;
    nlohmann::json raw;  //!< the whole inspect document (Config, HostConfig, Mounts, ...)
};

//! A line of the container list.
struct ContainerSummary {
    std::string id;
    std::string name;  //!< without the leading '/'
    std::string state;
    std::map<std::string, std::string> labels;
};

//! What a command run with exec printed, and how it ended.
struct ExecResult {
    std::string out;
    std::string err;
    int exitCode = -1;
};

//! Parses an inspect document (GET /containers/{id}/json).
ContainerStatus parseContainerStatus(const nlohmann::json& inspect);
//! Splits the engine's multiplexed stream (8-byte frame headers: stream, 0, 0, 0, size) of a
//! container without a TTY into stdout and stderr. A truncated last frame is kept as far as
//! it goes.
ExecResult demultiplexDockerStream(std::string_view stream);
//! The `filters` query value that selects containers carrying every one of `labels`.
std::string labelFilter(const std::map<std::string, std::string>& labels);

class DockerEngine {
public:
    struct Response {
        int status = 0;
        std::string body;
    };

    explicit DockerEngine(std::string socketPath,
                          std::chrono::milliseconds timeout = std::chrono::seconds(60));

    const std::string& socketPath() const { return socketPath_; }

    //! GET /_ping; throws when the engine does not answer OK.
    void ping();
    //! GET /version: the engine's version document.
    nlohmann::json version();
    //! Whether the engine has the image (name:tag or id).
    bool imageExists(const std::string& image);
    //! Throws `runtime_unavailable` naming the image and `buildHint` when it is missing.
    void requireImage(const std::string& image, const std::string& buildHint);
    //! POST /images/create?fromSrc=-: a root filesystem tar becomes image `repo:tag`
    //! (`docker import`). Returns the image id.
    std::string importImage(const std::string& rootfsTar, const std::string& repo,
                            const std::string& tag);
    //! DELETE /images/{name}; a missing image is not an error.
    void removeImage(const std::string& image);

    //! POST /containers/create?name=: returns the id. `spec` is the Engine API's create body.
    //! A missing image throws `runtime_unavailable` with `imageHint`; a taken name throws
    //! `container_exists`.
    std::string createContainer(const std::string& name, const nlohmann::json& spec,
                                const std::string& imageHint = "");
    //! Starting a running container succeeds (304).
    void startContainer(const std::string& idOrName);
    //! SIGTERM, then SIGKILL after `grace` (whole seconds, rounded up). A stopped or missing
    //! container succeeds.
    void stopContainer(const std::string& idOrName, std::chrono::milliseconds grace);
    //! Removes the container and its anonymous volumes, running or not; missing succeeds.
    void removeContainer(const std::string& idOrName);
    //! nullopt when there is no such container.
    std::optional<ContainerStatus> inspectContainer(const std::string& idOrName);
    //! Every container (running or not) carrying all of `labels`.
    std::vector<ContainerSummary> listContainers(const std::map<std::string, std::string>& labels);
    //! The last `tail` lines of the container's output (stdout and stderr, joined).
    std::string containerLogs(const std::string& idOrName, int tail);
    //! Runs `argv` in a running container (as `user` when set) and waits for it to end.
    ExecResult exec(const std::string& idOrName, const std::vector<std::string>& argv,
                    const std::string& user = "");
    //! Attaches to the container's stdin (the container must have been created with
    //! OpenStdin and StdinOnce), starts it, writes `input` and closes stdin: the container's
    //! process reads `input`, then end of file. Nothing passes through the file system.
    void startWithStdin(const std::string& idOrName, const std::string& input);

    void createVolume(const std::string& name, const std::map<std::string, std::string>& labels);
    //! A missing volume is not an error.
    void removeVolume(const std::string& name);
    bool volumeExists(const std::string& name);

    //! One request; `path` without the version prefix (`/containers/json?all=1`). Throws
    //! `runtime_unavailable` only when the engine cannot be reached; statuses are returned.
    Response call(const std::string& method, const std::string& path, const std::string& body = "",
                  const std::string& contentType = "application/json");

    //! Throws `runtime_unavailable` for an answer the caller did not expect: the engine's own
    //! words, and `hint` (else: see the engine's log).
    [[noreturn]] void fail(const std::string& what, const Response& response,
                           const std::string& hint = "") const;

private:
    std::string socketPath_;
    std::chrono::milliseconds timeout_;
};

}  // namespace aw
