#include "runtime/docker_engine.h"

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>

#include <filesystem>
#include <sstream>
#include <thread>

#include "agent_worker/core/problem.h"

namespace aw {
namespace {

namespace fs = std::filesystem;

const std::string kSocketHint =
    "start the Docker engine (systemctl start docker, or dockerd as root) or point docker.socket "
    "(AW_DOCKER_SOCKET, or DOCKER_HOST=unix://...) at its socket";

ProblemError unavailable(const std::string& message, const std::string& hint) {
    return ProblemError({"runtime_unavailable", message, hint});
}

//! `text` percent-encoded for a query value or a path segment.
std::string encoded(const std::string& text) {
    std::string out;
    Poco::URI::encode(text, "!#$&'()*+,/:;=?@[]{}\" ", out);
    return out;
}

//! The engine's own words from an error answer ({"message": "..."}), else the body.
std::string engineMessage(const std::string& body) {
    const auto json = nlohmann::json::parse(body, nullptr, false);
    if (json.is_object() && json.contains("message") && json["message"].is_string())
        return json["message"].get<std::string>();
    std::string text = body.substr(0, 300);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    return text;
}

std::map<std::string, std::string> labelsOf(const nlohmann::json& labels) {
    std::map<std::string, std::string> out;
    if (!labels.is_object()) return out;
    for (const auto& [key, value] : labels.items()) {
        if (value.is_string()) out[key] = value.get<std::string>();
    }
    return out;
}

std::string withoutSlash(std::string name) {
    if (!name.empty() && name.front() == '/') name.erase(0, 1);
    return name;
}

Poco::Timespan span(std::chrono::milliseconds timeout) {
    return Poco::Timespan(std::chrono::duration_cast<std::chrono::microseconds>(timeout).count());
}

}  // namespace

std::string resolveDockerSocket(const std::string& configured, const char* dockerHost) {
    if (!configured.empty()) return configured;
    const std::string host = dockerHost ? dockerHost : "";
    if (host.empty()) return std::string(kDefaultDockerSocket);
    if (host.rfind("unix://", 0) == 0 && host.size() > 7) return host.substr(7);
    throw ProblemError({"config_invalid",
                        "DOCKER_HOST is '" + host +
                            "': agent-host reaches the Docker engine "
                            "through a unix socket only",
                        "set DOCKER_HOST=unix:///path/to/docker.sock or docker.socket "
                        "(AW_DOCKER_SOCKET)"});
}

ContainerStatus parseContainerStatus(const nlohmann::json& inspect) {
    ContainerStatus status;
    status.id = inspect.value("Id", "");
    status.name = withoutSlash(inspect.value("Name", ""));
    const auto& state = inspect.contains("State") ? inspect["State"] : nlohmann::json::object();
    status.status = state.value("Status", "");
    status.running = state.value("Running", false);
    status.exitCode = state.value("ExitCode", 0);
    if (inspect.contains("Config") && inspect["Config"].is_object())
        status.labels = labelsOf(inspect["Config"].value("Labels", nlohmann::json::object()));
    status.raw = inspect;
    return status;
}

ExecResult demultiplexDockerStream(std::string_view stream) {
    ExecResult result;
    std::size_t at = 0;
    while (at + 8 <= stream.size()) {
        const auto kind = static_cast<unsigned char>(stream[at]);
        std::size_t size = 0;
        for (int i = 4; i < 8; ++i) size = (size << 8) | static_cast<unsigned char>(stream[at + i]);
        at += 8;
        const auto part = stream.substr(at, std::min(size, stream.size() - at));
        (kind == 2 ? result.err : result.out).append(part);
        at += part.size();
    }
    return result;
}

std::string labelFilter(const std::map<std::string, std::string>& labels) {
    nlohmann::json wanted = nlohmann::json::array();
    for (const auto& [key, value] : labels) wanted.push_back(key + "=" + value);
    return nlohmann::json{{"label", wanted}}.dump();
}

DockerEngine::DockerEngine(std::string socketPath, std::chrono::milliseconds timeout)
    : socketPath_(std::move(socketPath)), timeout_(timeout) {}

DockerEngine::Response DockerEngine::call(const std::string& method, const std::string& path,
                                          const std::string& body, const std::string& contentType) {
    const std::string target = "/v" + std::string(kDockerApiVersion) + path;
    std::error_code ignored;
    if (!fs::exists(socketPath_, ignored)) {
        throw unavailable("the Docker engine's socket " + socketPath_ + " does not exist",
                          kSocketHint);
    }
    try {
        Poco::Net::StreamSocket socket;
        socket.connect(Poco::Net::SocketAddress(Poco::Net::SocketAddress::UNIX_LOCAL, socketPath_),
                       span(timeout_));
        Poco::Net::HTTPClientSession session(socket);
        session.setTimeout(span(timeout_));
        Poco::Net::HTTPRequest request(method, target, Poco::Net::HTTPMessage::HTTP_1_1);
        request.setHost("docker");
        if (!body.empty() || method == "POST" || method == "PUT") {
            request.setContentType(contentType);
            request.setContentLength64(static_cast<Poco::Int64>(body.size()));
        }
        session.sendRequest(request) << body;
        Poco::Net::HTTPResponse response;
        Response answer;
        Poco::StreamCopier::copyToString(session.receiveResponse(response), answer.body);
        answer.status = static_cast<int>(response.getStatus());
        return answer;
    } catch (const Poco::TimeoutException&) {
        throw unavailable("the Docker engine at " + socketPath_ + " did not answer " + method +
                              " " + path + " within " + std::to_string(timeout_.count()) + " ms",
                          "check that dockerd is healthy (docker info)");
    } catch (const Poco::Exception& e) {
        const bool denied = e.displayText().find("ermission") != std::string::npos;
        throw unavailable(
            "cannot reach the Docker engine at " + socketPath_ + ": " + e.displayText(),
            denied ? "run agent-host as root or as a user of the docker group" : kSocketHint);
    }
}

void DockerEngine::fail(const std::string& what, const Response& response,
                        const std::string& hint) const {
    throw unavailable("the Docker engine refused to " + what + " (" +
                          std::to_string(response.status) + "): " + engineMessage(response.body),
                      hint.empty() ? "see the Docker engine's log (journalctl -u docker)" : hint);
}

void DockerEngine::ping() {
    const auto response = call("GET", "/_ping");
    if (response.status != 200) fail("answer a ping", response);
}

nlohmann::json DockerEngine::version() {
    const auto response = call("GET", "/version");
    if (response.status != 200) fail("report its version", response);
    return nlohmann::json::parse(response.body, nullptr, false);
}

bool DockerEngine::imageExists(const std::string& image) {
    const auto response = call("GET", "/images/" + encoded(image) + "/json");
    if (response.status == 404) return false;
    if (response.status != 200) fail("inspect image " + image, response);
    return true;
}

void DockerEngine::requireImage(const std::string& image, const std::string& buildHint) {
    if (!imageExists(image)) {
        throw unavailable("the Docker engine at " + socketPath_ + " has no image " + image,
                          buildHint);
    }
}

std::string DockerEngine::importImage(const std::string& rootfsTar, const std::string& repo,
                                      const std::string& tag) {
    const auto response =
        call("POST", "/images/create?fromSrc=-&repo=" + encoded(repo) + "&tag=" + encoded(tag),
             rootfsTar, "application/x-tar");
    if (response.status != 200) fail("import image " + repo + ":" + tag, response);
    // A stream of progress documents; an error arrives as one of them, with status 200.
    std::istringstream lines(response.body);
    std::string id;
    for (std::string part; std::getline(lines, part);) {
        const auto json = nlohmann::json::parse(part, nullptr, false);
        if (!json.is_object()) continue;
        if (json.contains("error")) fail("import image " + repo + ":" + tag, {500, part});
        if (json.contains("status") && json["status"].is_string()) id = json["status"];
    }
    return id;
}

void DockerEngine::removeImage(const std::string& image) {
    const auto response = call("DELETE", "/images/" + encoded(image) + "?force=1");
    if (response.status != 200 && response.status != 404) fail("remove image " + image, response);
}

std::string DockerEngine::createContainer(const std::string& name, const nlohmann::json& spec,
                                          const std::string& imageHint) {
    const auto response = call("POST", "/containers/create?name=" + encoded(name), spec.dump());
    if (response.status == 201) {
        return nlohmann::json::parse(response.body, nullptr, false).value("Id", "");
    }
    if (response.status == 404) {
        throw unavailable("cannot create container " + name + ": " + engineMessage(response.body),
                          imageHint.empty() ? "check the image name" : imageHint);
    }
    if (response.status == 409) {
        throw ProblemError(
            {"container_exists",
             "a container named " + name + " exists already: " + engineMessage(response.body),
             "remove it (docker rm -f " + name + ") or use it"});
    }
    fail("create container " + name, response);
}

void DockerEngine::startContainer(const std::string& idOrName) {
    const auto response = call("POST", "/containers/" + encoded(idOrName) + "/start");
    if (response.status != 204 && response.status != 304) fail("start " + idOrName, response);
}

void DockerEngine::stopContainer(const std::string& idOrName, std::chrono::milliseconds grace) {
    const auto seconds = (std::max<std::int64_t>(grace.count(), 0) + 999) / 1000;
    // The answer comes once the container is down: wait past the grace.
    DockerEngine patient(socketPath_, timeout_ + std::chrono::seconds(seconds));
    const auto response = patient.call(
        "POST", "/containers/" + encoded(idOrName) + "/stop?t=" + std::to_string(seconds));
    if (response.status != 204 && response.status != 304 && response.status != 404)
        fail("stop " + idOrName, response);
}

void DockerEngine::removeContainer(const std::string& idOrName) {
    const auto response = call("DELETE", "/containers/" + encoded(idOrName) + "?force=1&v=1");
    if (response.status == 204 || response.status == 404) return;
    // 409 "removal already in progress": another caller is removing it; wait for it to end.
    if (response.status == 409) {
        const auto deadline = std::chrono::steady_clock::now() + timeout_;
        while (inspectContainer(idOrName) && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        if (!inspectContainer(idOrName)) return;
    }
    fail("remove " + idOrName, response);
}

std::optional<ContainerStatus> DockerEngine::inspectContainer(const std::string& idOrName) {
    const auto response = call("GET", "/containers/" + encoded(idOrName) + "/json");
    if (response.status == 404) return std::nullopt;
    if (response.status != 200) fail("inspect " + idOrName, response);
    return parseContainerStatus(nlohmann::json::parse(response.body));
}

std::vector<ContainerSummary> DockerEngine::listContainers(
    const std::map<std::string, std::string>& labels) {
    const auto response =
        call("GET", "/containers/json?all=1&filters=" + encoded(labelFilter(labels)));
    if (response.status != 200) fail("list containers", response);
    std::vector<ContainerSummary> out;
    for (const auto& item : nlohmann::json::parse(response.body)) {
        ContainerSummary summary;
        summary.id = item.value("Id", "");
        const auto names = item.value("Names", nlohmann::json::array());
        if (!names.empty() && names[0].is_string()) summary.name = withoutSlash(names[0]);
        summary.state = item.value("State", "");
        summary.labels = labelsOf(item.value("Labels", nlohmann::json::object()));
        out.push_back(std::move(summary));
    }
    return out;
}

std::string DockerEngine::containerLogs(const std::string& idOrName, int tail) {
    const auto response = call("GET", "/containers/" + encoded(idOrName) +
                                          "/logs?stdout=1&stderr=1&tail=" + std::to_string(tail));
    if (response.status != 200) return "(no logs: " + engineMessage(response.body) + ")";
    const auto streams = demultiplexDockerStream(response.body);
    return streams.out + streams.err;
}

ExecResult DockerEngine::exec(const std::string& idOrName, const std::vector<std::string>& argv,
                              const std::string& user) {
    nlohmann::json spec{{"AttachStdout", true}, {"AttachStderr", true}, {"Cmd", argv}};
    if (!user.empty()) spec["User"] = user;
    const auto created = call("POST", "/containers/" + encoded(idOrName) + "/exec", spec.dump());
    if (created.status != 201) fail("create an exec in " + idOrName, created);
    const std::string id = nlohmann::json::parse(created.body).value("Id", "");
    // Without Detach the answer is the command's multiplexed output, until it ends.
    const auto started = call("POST", "/exec/" + id + "/start", R"({"Detach":false,"Tty":false})");
    if (started.status != 200) fail("start an exec in " + idOrName, started);
    ExecResult result = demultiplexDockerStream(started.body);
    const auto deadline = std::chrono::steady_clock::now() + timeout_;
    while (true) {
        const auto inspected = call("GET", "/exec/" + id + "/json");
        if (inspected.status != 200) fail("inspect an exec in " + idOrName, inspected);
        const auto json = nlohmann::json::parse(inspected.body);
        if (!json.value("Running", false) || std::chrono::steady_clock::now() > deadline) {
            result.exitCode = json["ExitCode"].is_number() ? json["ExitCode"].get<int>() : -1;
            return result;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

void DockerEngine::startWithStdin(const std::string& idOrName, const std::string& input) {
    // The attach request takes the connection over (101 UPGRADED): what is written on it
    // afterwards is the container's stdin. Poco's client session cannot hand the socket over,
    // so the request is written by hand.
    Poco::Net::StreamSocket socket;
    try {
        socket.connect(Poco::Net::SocketAddress(Poco::Net::SocketAddress::UNIX_LOCAL, socketPath_),
                       span(timeout_));
        socket.setReceiveTimeout(span(timeout_));
        const std::string request = "POST /v" + std::string(kDockerApiVersion) + "/containers/" +
                                    encoded(idOrName) +
                                    "/attach?stream=1&stdin=1 HTTP/1.1\r\nHost: docker\r\n"
                                    "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n";
        socket.sendBytes(request.data(), static_cast<int>(request.size()));
        std::string head;
        char byte = 0;
        while (head.find("\r\n\r\n") == std::string::npos && head.size() < 8192) {
            if (socket.receiveBytes(&byte, 1) <= 0) break;
            head += byte;
        }
        const auto space = head.find(' ');
        const int status = space == std::string::npos ? 0 : std::atoi(head.c_str() + space + 1);
        if (status != 101 && status != 200) {
            std::string rest;
            char buffer[1024];
            for (int n = 0; (n = socket.receiveBytes(buffer, sizeof buffer)) > 0;)
                rest.append(buffer, static_cast<std::size_t>(n));
            fail("attach to " + idOrName, {status, rest});
        }
    } catch (const Poco::Exception& e) {
        throw unavailable(
            "cannot attach to " + idOrName + " at " + socketPath_ + ": " + e.displayText(),
            kSocketHint);
    }
    startContainer(idOrName);
    try {
        socket.sendBytes(input.data(), static_cast<int>(input.size()));
        socket.shutdownSend();  // end of file on the container's stdin (StdinOnce)
        // The engine closes the connection once it has passed everything on.
        socket.setReceiveTimeout(Poco::Timespan(5, 0));
        char buffer[256];
        while (socket.receiveBytes(buffer, sizeof buffer) > 0) {
        }
    } catch (const Poco::Exception&) {
        // A process that exits at once closes its stdin early; the caller's readiness check
        // reports why it exited.
    }
}

void DockerEngine::createVolume(const std::string& name,
                                const std::map<std::string, std::string>& labels) {
    const nlohmann::json spec{{"Name", name}, {"Labels", labels}};
    const auto response = call("POST", "/volumes/create", spec.dump());
    if (response.status != 201) fail("create volume " + name, response);
}

void DockerEngine::removeVolume(const std::string& name) {
    const auto response = call("DELETE", "/volumes/" + encoded(name) + "?force=1");
    if (response.status != 204 && response.status != 404) fail("remove volume " + name, response);
}

bool DockerEngine::volumeExists(const std::string& name) {
    const auto response = call("GET", "/volumes/" + encoded(name));
    if (response.status == 404) return false;
    if (response.status != 200) fail("inspect volume " + name, response);
    return true;
}

}  // namespace aw
