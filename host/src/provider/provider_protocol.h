// The line protocol between agent-host and agent-provider-host, defined once for both.
//
//   handshake (provider-host -> host, first line):
//       AWPH|<protocol>|<abi major>.<abi minor>|<name>|<version>|<capabilities>|<facts JSON>
//   refusal (instead of the handshake, then exit code 3):
//       AWPH-ERROR|<protocol>|<code>|<message>
//   requests (host -> provider-host, one JSON object per line):
//       {"id":N,"op":"ping"|"open"|"feed"|"exit"|"reply"|"interrupt"|"close","run":"R",...}
//   responses (one JSON object per line, any order, matched by id):
//       {"id":N,"ok":true,"result":{...}} | {"id":N,"ok":false,"error":{"code","message","hint"}}
#pragma once

#include <optional>
#include <string>

#include "provider/loaded_provider.h"

namespace aw {

inline constexpr int kProviderProtocolVersion = 1;
//! agent-provider-host's exit code when it refuses a plugin (bad ABI, missing entry...).
inline constexpr int kProviderRefusedExitCode = 3;

std::string formatHandshake(const ProviderInfo& info);
std::string formatRefusal(const Problem& problem);

//! A parsed first line: either the provider's info or its refusal.
struct Handshake {
    std::optional<ProviderInfo> info;
    std::optional<Problem> refusal;
};

//! nullopt when `line` is neither a handshake nor a refusal of this protocol version.
std::optional<Handshake> parseHandshake(const std::string& line);

}  // namespace aw
