#include "api/query_params.h"

#include <charconv>

#include "http/api_error.h"

namespace aw {

std::optional<std::int64_t> parseNumber(const std::string& text, std::int64_t min,
                                        std::int64_t max) {
    if (text.empty() || text.front() < '0' || text.front() > '9') return std::nullopt;
    std::int64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || value < min || value > max)
        return std::nullopt;
    return value;
}

std::int64_t numberParam(const HttpRequest& request, const std::string& name, std::int64_t fallback,
                         std::int64_t min, std::int64_t max) {
    const auto text = request.query(name);
    if (!text || text->empty()) return fallback;
    const auto value = parseNumber(*text, min, max);
    if (!value) {
        throw ApiError(400, {"invalid_query",
                             "?" + name + "=" + *text + " is not a number in " +
                                 std::to_string(min) + ".." + std::to_string(max),
                             ""});
    }
    return *value;
}

}  // namespace aw
