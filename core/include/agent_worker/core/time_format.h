// Time as this project stores and shows it: Unix milliseconds in the database, ISO 8601 UTC
// with milliseconds (`2026-11-24T10:00:00.000Z`) in the API, logs and trace headers.
#pragma once

#include <cstdint>
#include <string>

namespace aw {

std::int64_t unixMillisNow();
std::string isoUtcMillis(std::int64_t unixMillis);

}  // namespace aw
