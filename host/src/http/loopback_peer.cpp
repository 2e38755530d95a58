#include "http/loopback_peer.h"

#include <fstream>
#include <sstream>
#include <string>

namespace aw {
namespace {

constexpr const char* kEstablished = "01";

//! The port of a /proc/net/tcp address (`0100007F:1F90`: hex address, colon, hex port).
std::optional<unsigned> portOf(const std::string& address) {
    const auto colon = address.rfind(':');
    if (colon == std::string::npos) return std::nullopt;
    try {
        return static_cast<unsigned>(std::stoul(address.substr(colon + 1), nullptr, 16));
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

}  // namespace

std::optional<uid_t> loopbackPeerUid(unsigned short clientPort, unsigned short serverPort) {
    for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
        std::ifstream in(table);
        std::string line;
        std::getline(in, line);  // the header
        while (std::getline(in, line)) {
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid ...
            std::istringstream fields(line);
            std::string slot, local, remote, state, queues, timer, retransmits;
            uid_t uid = 0;
            if (!(fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >>
                  uid))
                continue;
            if (state == kEstablished && portOf(local) == clientPort &&
                portOf(remote) == serverPort)
                return uid;
        }
    }
    return std::nullopt;
}

}  // namespace aw
