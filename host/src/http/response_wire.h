// HTTP/1.1 on the wire, as the server writes it: an answer's status line, headers and body,
// and whether a request keeps its connection.
#pragma once

#include <string>

#include "http/incoming_request.h"
#include "http/router.h"

namespace aw {

//! HTTP/1.1 keeps a connection unless told to close; HTTP/1.0 only when asked to keep it.
bool wantsKeepAlive(const IncomingRequest& request);

//! The status line and headers of `response`, and its body unless it streams or answers a HEAD.
std::string serializeResponse(const HttpResponse& response, bool head, bool keepAlive, bool http10);

}  // namespace aw
