// A request as read off the wire, before any routing: what the HTTP server hands the router.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aw {

struct IncomingRequest {
    std::string method;                                         //!< as sent: GET, POST, ...
    std::string uri;                                            //!< the request target, raw
    std::string version;                                        //!< HTTP/1.0 or HTTP/1.1
    std::vector<std::pair<std::string, std::string>> headers;  //!< names as sent
    std::string body;                                           //!< whole, de-chunked
    //! TCP ports of the connection's two ends (0 on a unix socket): who is on the other end
    //! of a loopback connection is found by them.
    unsigned short clientPort = 0;
    unsigned short serverPort = 0;

    //! The first header of that name (names compare case-insensitively); empty if absent.
    std::string_view header(std::string_view name) const;
    bool isHead() const { return method == "HEAD"; }
};

}  // namespace aw
