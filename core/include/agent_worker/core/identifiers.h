// Validation of the ids users hand us (session, tenant, run): the one place that decides
// which characters may reach paths, object keys and SQL.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "agent_worker/core/problem.h"

namespace aw {

inline constexpr std::size_t kMaxIdentifierLength = 128;

//! Empty when `value` is a valid id: 1..128 characters of [A-Za-z0-9._-], not starting
//! with '.' or '-' (so never `.`, `..` or an option-looking string). Otherwise the
//! Problem (code `invalid_<kind>`) names what is wrong.
std::optional<Problem> checkIdentifier(std::string_view kind, std::string_view value);

//! Empty when `value` is a valid id; otherwise what is wrong with it, as the end of a
//! sentence without a subject ("contains '/' at position 2"). For callers that validate
//! something shaped like an id but not called one (a segment of the storage root prefix).
std::optional<std::string> identifierFault(std::string_view value);

//! The hint that goes with an identifier fault: which characters are allowed.
std::string identifierHint();

}  // namespace aw
