// Debian's nginx as a reverse proxy in front of a local port, the way agent-host is commonly
// deployed: started by the test on 127.0.0.1 with a temp config (never the system service),
// with nginx's DEFAULT proxy settings (response buffering on, HTTP/1.0 upstream), stopped and
// deleted with the object.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "process/subprocess.h"
#include "support/temp_dir.h"

namespace aw::test {

//! Where nginx is, or "" when it is missing (scripts/install-deps.sh test installs it).
std::string nginxBinary();

class NginxProxy {
public:
    //! Proxies every path to 127.0.0.1:upstreamPort. Throws std::runtime_error saying what
    //! is missing or what nginx printed when it cannot start.
    explicit NginxProxy(unsigned short upstreamPort);
    ~NginxProxy();
    NginxProxy(const NginxProxy&) = delete;
    NginxProxy& operator=(const NginxProxy&) = delete;

    unsigned short port() const { return port_; }
    //! One line per request answered: "<method> <uri> <status> <Last-Event-ID or ->".
    std::string accessLog() const;
    std::string errorLog() const;

private:
    void writeConfig(unsigned short upstreamPort) const;

    TempDir dir_{"aw-nginx"};
    std::unique_ptr<Subprocess> process_;
    unsigned short port_ = 0;
};

}  // namespace aw::test
