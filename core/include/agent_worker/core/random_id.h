// The one maker of random identifiers and secrets: run ids, trace ids, request ids and
// bearer tokens all come from here, drawn from the operating system's random source.
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

}  // namespace aw
