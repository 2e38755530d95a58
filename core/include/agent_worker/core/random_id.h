// The one maker of random identifiers and secrets: run ids, trace ids, request ids and
// bearer tokens all come from here. Secrets and stored ids are drawn from the operating
// system's random source; request ids, made once per HTTP request, from a per-thread
// generator seeded from it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace aw {

//! `digits` lower-case hex digits of randomness.
std::string randomHex(std::size_t digits);
//! `<prefix><32 hex digits>`, e.g. newRandomId("run_").
std::string newRandomId(std::string_view prefix);
//! A bearer token: 64 hex digits (256 bits).
std::string newToken();
//! A W3C trace id: 32 hex digits.
std::string newTraceId();
//! A request id for logs and X-Request-Id: 32 hex digits from a per-thread generator
//! seeded once from the OS. Unique in practice, cheap, and not a secret: never a token.
std::string newRequestId();

}  // namespace aw
