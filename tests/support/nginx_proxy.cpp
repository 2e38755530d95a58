#include "support/nginx_proxy.h"

#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace aw::test {
namespace {

using namespace std::chrono_literals;

bool accepts(unsigned short port) {
    try {
        Poco::Net::StreamSocket socket;
        socket.connect(Poco::Net::SocketAddress("127.0.0.1", port), Poco::Timespan(0, 200000));
        return true;
    } catch (const Poco::Exception&) {
        return false;
    }
}

//! Whether process `pid` holds the socket listening on 127.0.0.1:`port` (an answer on the
//! port alone could come from another test's server that holds it, nginx failing to bind).
bool listensOn(pid_t pid, unsigned short port) {
    char local[32];
    std::snprintf(local, sizeof local, "0100007F:%04X", static_cast<unsigned>(port));
    std::ifstream table("/proc/net/tcp");
    std::string line, inode;
    while (std::getline(table, line)) {
        std::istringstream fields(line);
        std::string slot, address, remote, state, queues, timer, retransmits, uid, timeout;
        fields >> slot >> address >> remote >> state >> queues >> timer >> retransmits >> uid >>
            timeout >> inode;
        if (address == local && state == "0A") break;  // 0A: LISTEN
        inode.clear();
    }
    if (inode.empty()) return false;
    const std::string socket = "socket:[" + inode + "]";
    std::error_code error;
    const std::filesystem::path fds = "/proc/" + std::to_string(pid) + "/fd";
    for (const auto& fd : std::filesystem::directory_iterator(fds, error)) {
        if (std::filesystem::read_symlink(fd.path(), error).string() == socket) return true;
    }
    return false;
}

}  // namespace

unsigned short freeLoopbackPort() {
    // Below the ephemeral range (32768 and up, where every server bound to port 0 lands), so
    // that no such server takes the port between this probe and its use.
    static std::mt19937 random(std::random_device{}());
    std::uniform_int_distribution<int> pick(20000, 32000);
    for (int attempt = 0; attempt < 100; ++attempt) {
        const auto port = static_cast<unsigned short>(pick(random));
        try {
            Poco::Net::ServerSocket probe(Poco::Net::SocketAddress("127.0.0.1", port));
            probe.close();
            return port;
        } catch (const Poco::Exception&) {
            // Taken: another.
        }
    }
    throw std::runtime_error("no free loopback port between 20000 and 32000");
}

std::string nginxBinary() {
    for (const char* candidate : {"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"}) {
        if (::access(candidate, X_OK) == 0) return candidate;
    }
    return "";
}

NginxProxy::NginxProxy(unsigned short upstreamPort)
    : NginxProxy(std::vector<unsigned short>{upstreamPort}, 0) {}

NginxProxy::NginxProxy(const std::vector<unsigned short>& upstreamPorts,
                       unsigned short listenPort) {
    const std::string binary = nginxBinary();
    if (binary.empty()) {
        throw std::runtime_error(
            "nginx is missing (no /usr/sbin/nginx): install Debian's nginx "
            "(scripts/install-deps.sh test does); the test starts it itself");
    }
    for (const char* temp : {"client_body", "proxy", "fastcgi", "uwsgi", "scgi", "logs"}) {
        std::filesystem::create_directories(dir_ / temp);
    }
    for (int attempt = 1;; ++attempt) {
        port_ = listenPort != 0 ? listenPort : freeLoopbackPort();
        writeConfig(upstreamPorts);
        SubprocessOptions options;
        // -e: the error log before the config is read, else nginx writes /var/log/nginx.
        options.argv = {binary,
                        "-p",
                        dir_.path().string() + "/",
                        "-c",
                        (dir_ / "nginx.conf").string(),
                        "-e",
                        (dir_ / "logs" / "error.log").string()};
        options.pipeStdout = false;
        options.stdoutFile = (dir_ / "logs" / "stdout.log").string();
        options.stderrFile = (dir_ / "logs" / "stdout.log").string();
        process_ = std::make_unique<Subprocess>(options);
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (std::chrono::steady_clock::now() < deadline) {
            if (accepts(port_) && listensOn(process_->pid(), port_)) return;
            if (auto status = process_->poll()) {
                process_.reset();
                const std::string log = errorLog() + readText(dir_ / "logs" / "stdout.log");
                if (listenPort == 0 && attempt < 5 &&
                    log.find("Address already in use") != std::string::npos) {
                    break;
                }
                throw std::runtime_error("nginx ended (" + status->describe() +
                                         ") before listening: " + log);
            }
            std::this_thread::sleep_for(20ms);
        }
        if (process_) {
            process_.reset();
            throw std::runtime_error("nginx did not listen on 127.0.0.1:" + std::to_string(port_) +
                                     " within 10 s: " + errorLog());
        }
    }
}

NginxProxy::~NginxProxy() {
    if (process_) process_->terminate(2s);
}

void NginxProxy::writeConfig(const std::vector<unsigned short>& upstreamPorts) const {
    std::string servers;
    for (const auto port : upstreamPorts)
        servers += "    server 127.0.0.1:" + std::to_string(port) + ";\n";
    // Only what a test run needs (paths, port, logs); every proxy_* setting is nginx's default.
    dir_.write("nginx.conf",
               "daemon off;\n"
               "master_process off;\n"
               "worker_processes 1;\n"
               "pid nginx.pid;\n"
               "error_log logs/error.log info;\n"
               "events { worker_connections 256; }\n"
               "http {\n"
               "  client_body_temp_path client_body;\n"
               "  proxy_temp_path proxy;\n"
               "  fastcgi_temp_path fastcgi;\n"
               "  uwsgi_temp_path uwsgi;\n"
               "  scgi_temp_path scgi;\n"
               "  log_format aw '$request_method $request_uri $status $http_last_event_id';\n"
               "  log_format upstream '$request_uri $upstream_addr';\n"
               "  access_log logs/access.log aw;\n"
               "  access_log logs/upstreams.log upstream;\n"
               "  upstream agent_host {\n" +
                   servers +
                   "  }\n"
                   "  server {\n"
                   "    listen 127.0.0.1:" +
                   std::to_string(port_) +
                   ";\n"
                   "    location / { proxy_pass http://agent_host; }\n"
                   "  }\n"
                   "}\n");
}

std::string NginxProxy::accessLog() const {
    return readText(dir_ / "logs" / "access.log");
}

std::string NginxProxy::upstreamLog() const {
    return readText(dir_ / "logs" / "upstreams.log");
}

std::string NginxProxy::errorLog() const {
    return readText(dir_ / "logs" / "error.log");
}

}  // namespace aw::test
