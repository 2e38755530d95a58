// Who is on the other end of a loopback TCP connection. The kernel lists every TCP socket of
// the network namespace, with its owner's uid, in /proc/net/tcp and /proc/net/tcp6: the
// client's end of a connection is the socket whose local port is the client's and whose
// remote port is the server's.
#pragma once

#include <sys/types.h>

#include <optional>

namespace aw {

//! The uid owning the client end of the established connection from `clientPort` to
//! `serverPort` on this machine; nullopt when no such socket is listed (not local, gone).
std::optional<uid_t> loopbackPeerUid(unsigned short clientPort, unsigned short serverPort);

}  // namespace aw
