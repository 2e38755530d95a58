// Listening sockets for the HTTP server, made non-blocking and close-on-exec, so no child
// process inherits them.
#pragma once

#include <string>

namespace aw {

//! A listening TCP socket on `host`:`port` (port 0: the system picks one); throws
//! std::system_error naming what failed.
int listenTcp(const std::string& host, unsigned short port, int backlog = 1024);
//! A listening unix socket at `path` (a stale socket file there is replaced), mode 0600.
int listenUnix(const std::string& path, int backlog = 128);
//! The port a listening TCP socket is bound to (0 for a unix socket).
unsigned short boundPort(int listeningFd);

}  // namespace aw
