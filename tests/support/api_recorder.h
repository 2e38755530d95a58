// Records the responses agent-host gives the suites, for tests/api to check against
// docs/openapi.yaml: with AW_API_RECORD_DIR set (ctest sets it for the suites that start
// agent-host), each response the test HTTP and SSE clients receive from an agent-host is
// appended to <dir>/<program>-<pid>.jsonl as one JSON line. Without it nothing is written.
#pragma once

#include <string>

namespace aw::test::api_record {

//! An agent-host serves on `port` (responses from other servers are not recorded).
void hostListening(unsigned short port);
//! It does not any more (the port may be reused by another server).
void hostStopped(unsigned short port);

//! One HTTP response to `method` `target` (path and query).
void response(unsigned short port, const std::string& method, const std::string& target, int status,
              const std::string& contentType, const std::string& body);
//! One event frame of a server-sent event stream opened on `target`.
void streamEvent(unsigned short port, const std::string& target, const std::string& id,
                 const std::string& event, const std::string& data);

}  // namespace aw::test::api_record
