#include "agent_worker/core/object_store.h"

namespace aw {

std::optional<Problem> checkObjectKey(std::string_view key, bool isPrefix) {
    auto invalid = [&](const std::string& why) {
        return Problem{"invalid_object_key", "object key '" + std::string(key.substr(0, 200)) + "' " + why,
                       "keys come from the workspace prefix plus a relative path inside the workspace"};
    };
    if (key.empty()) return isPrefix ? std::nullopt : std::optional<Problem>(invalid("is empty"));
    if (key.size() > 1024) return invalid("is longer than 1024 bytes");
    if (key.front() == '/') return invalid("is absolute");
    std::string_view rest = key;
    if (isPrefix && rest.back() == '/') rest.remove_suffix(1);
    std::size_t start = 0;
    while (start <= rest.size()) {
        const auto slash = rest.find('/', start);
        const auto segment = rest.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
        if (segment.empty()) return invalid("has an empty segment");
        if (segment == "." || segment == "..") return invalid("has a '" + std::string(segment) + "' segment");
        if (slash == std::string_view::npos) break;
        start = slash + 1;
    }
    for (unsigned char c : key) {
        if (c < 0x20 || c == 0x7f) return invalid("contains a control character");
        if (c == '\\') return invalid("contains a backslash");
    }
    return std::nullopt;
}

void ObjectStore::removeMany(const std::vector<std::string>& keys) {
    for (const auto& key : keys) remove(key);
}

}  // namespace aw
