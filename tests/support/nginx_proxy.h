// Debian's nginx as a reverse proxy in front of a local port, the way agent-host is commonly
// deployed: started by the test on 127.0.0.1 with a temp config (never the system service),
// with nginx's DEFAULT proxy settings (response buffering on, HTTP/1.0 upstream), stopped and
// deleted with the object.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "process/subprocess.h"
#include "support/temp_dir.h"

namespace aw::test {

//! A loopback port nobody listens on right now, below the ephemeral range, for a server
//! started a moment later (NginxProxy retries its own on a clash).
unsigned short freeLoopbackPort();

//! Where nginx is, or "" when it is missing (scripts/install-deps.sh test installs it).
std::string nginxBinary();

class NginxProxy {
public:
    //! Proxies every path to 127.0.0.1:upstreamPort. Throws std::runtime_error saying what
    //! is missing or what nginx printed when it cannot start.
    explicit NginxProxy(unsigned short upstreamPort);
    //! A load balancer: each request to the next of `upstreamPorts` in turn (nginx's
    //! round robin), listening on `listenPort` (0: one that is free).
    NginxProxy(const std::vector<unsigned short>& upstreamPorts, unsigned short listenPort);
    ~NginxProxy();
    NginxProxy(const NginxProxy&) = delete;
    NginxProxy& operator=(const NginxProxy&) = delete;

    unsigned short port() const { return port_; }
    //! One line per request answered: "<method> <uri> <status> <Last-Event-ID or ->".
    std::string accessLog() const;
    std::string errorLog() const;
    //! One line per request answered: "<uri> <the upstream's host:port>".
    std::string upstreamLog() const;

private:
    void writeConfig(const std::vector<unsigned short>& upstreamPorts) const;

    TempDir dir_{"aw-nginx"};
    std::unique_ptr<Subprocess> process_;
    unsigned short port_ = 0;
};

}  // namespace aw::test
