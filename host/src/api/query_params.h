// Numbers in a request's query string (?after=, ?limit=), read strictly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "http/router.h"

namespace aw {

//! Decimal digits only, in min..max: no sign, space, suffix or exponent.
std::optional<std::int64_t> parseNumber(const std::string& text, std::int64_t min,
                                        std::int64_t max);

//! The query parameter `name` as a number in min..max, `fallback` when absent or empty;
//! anything else is the client's 400 `invalid_query`.
std::int64_t numberParam(const HttpRequest& request, const std::string& name, std::int64_t fallback,
                         std::int64_t min, std::int64_t max);

}  // namespace aw
