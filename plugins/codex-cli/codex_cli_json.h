// JSON helpers of the codex-cli plugin: tolerant field access (a CLI line may hold anything)
// and the output document every feed/exit call returns.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace aw::codex_cli {

using Json = nlohmann::json;

//! Input the plugin refuses: mapped to AW_ERR_INVALID_INPUT at the ABI.
struct InvalidInput : std::runtime_error {
    using std::runtime_error::runtime_error;
};

//! An operation this provider does not offer: mapped to AW_ERR_UNSUPPORTED at the ABI.
struct Unsupported : std::runtime_error {
    using std::runtime_error::runtime_error;
};

//! Copying, comparing and serialising a JSON value recurse once per nesting level, so a line
//! nested deeper than any CLI writes is refused before it is parsed.
constexpr int kMaxNesting = 256;

inline bool nestedTooDeep(std::string_view text) {
    int depth = 0;
    bool inString = false;
    bool escaped = false;
    for (const char c : text) {
        if (inString) {
            if (escaped) {
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                inString = false;
            }
        } else if (c == '"') {
            inString = true;
        } else if (c == '[' || c == '{') {
            if (++depth > kMaxNesting) return true;
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
    return false;
}

//! Parses without throwing: a discarded value for invalid or too deeply nested JSON.
inline Json parseJson(std::string_view text) {
    if (nestedTooDeep(text)) return Json(Json::value_t::discarded);
    return Json::parse(text.begin(), text.end(), nullptr, false);
}

//! The member `key` of `object`, or nullptr when `object` is not an object or lacks it.
inline const Json* member(const Json& object, const char* key) {
    if (!object.is_object()) return nullptr;
    auto it = object.find(key);
    return it == object.end() ? nullptr : &*it;
}

inline std::string stringAt(const Json& object, const char* key) {
    const Json* value = member(object, key);
    return value && value->is_string() ? value->get<std::string>() : std::string();
}

inline std::optional<double> numberAt(const Json& object, const char* key) {
    const Json* value = member(object, key);
    if (!value || !value->is_number()) return std::nullopt;
    return value->get<double>();
}

inline int64_t integerAt(const Json& object, const char* key, int64_t fallback = 0) {
    const Json* value = member(object, key);
    if (!value || !value->is_number()) return fallback;
    if (value->is_number_float()) {
        // Casting a double outside int64's range is undefined: clamp first.
        const double number = value->get<double>();
        if (!(number > -9.0e18)) return number < 0 ? INT64_MIN : fallback;
        return number < 9.0e18 ? static_cast<int64_t>(number) : INT64_MAX;
    }
    if (value->is_number_unsigned()) {
        const auto unsignedValue = value->get<uint64_t>();
        return unsignedValue > static_cast<uint64_t>(INT64_MAX)
                   ? INT64_MAX
                   : static_cast<int64_t>(unsignedValue);
    }
    return value->get<int64_t>();
}

//! A token count: never negative and far below int64's range, so sums and differences of
//! counts from hostile lines cannot overflow.
inline int64_t countAt(const Json& object, const char* key) {
    constexpr int64_t kMaxCount = 1'000'000'000'000;
    const int64_t count = integerAt(object, key);
    return count < 0 ? 0 : (count > kMaxCount ? kMaxCount : count);
}

inline bool boolAt(const Json& object, const char* key, bool fallback = false) {
    const Json* value = member(object, key);
    return value && value->is_boolean() ? value->get<bool>() : fallback;
}

//! Serialises without throwing on invalid UTF-8 (replaced by U+FFFD).
inline std::string dumpJson(const Json& value) {
    return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

//! What one feed/exit call hands back: the events (Codex never reads stdin, so no bytes for it).
struct Output {
    Json events = Json::array();

    void add(const char* type, Json data) {
        events.push_back(Json{{"type", type}, {"data", std::move(data)}});
    }
    Json document() const { return Json{{"events", events}}; }
};

}  // namespace aw::codex_cli
