#include "common/time_format.h"

#include <Poco/DateTimeFormatter.h>
#include <Poco/Timestamp.h>

#include <chrono>

namespace aw {

std::int64_t unixMillisNow() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string isoUtcMillis(std::int64_t unixMillis) {
    return Poco::DateTimeFormatter::format(Poco::Timestamp(unixMillis * 1000), "%Y-%m-%dT%H:%M:%S.%iZ");
}

}  // namespace aw
