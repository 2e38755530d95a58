#include "agent_worker/core/identifiers.h"

#include <string>

namespace aw {
namespace {

bool isAllowed(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

Problem invalid(std::string_view kind, std::string message) {
    return Problem{"invalid_" + std::string(kind), std::move(message),
                   "use 1-" + std::to_string(kMaxIdentifierLength) +
                       " characters of letters, digits, '.', '_' and '-', starting with a "
                       "letter, digit or '_'"};
}

}  // namespace

std::optional<Problem> checkIdentifier(std::string_view kind, std::string_view value) {
    const std::string name(kind);
    if (value.empty()) return invalid(kind, name + " id is empty");
    if (value.size() > kMaxIdentifierLength) {
        return invalid(kind, name + " id is " + std::to_string(value.size()) +
                                 " characters long, over the limit of " +
                                 std::to_string(kMaxIdentifierLength));
    }
    for (std::size_t i = 0; i < value.size(); ++i) {
        const unsigned char c = static_cast<unsigned char>(value[i]);
        if (!isAllowed(value[i])) {
            std::string message = name + " id contains ";
            if (c < 0x20 || c == 0x7f) {
                message += "a control character";
            } else {
                message += '\'';
                message += value[i];
                message += '\'';
            }
            message += " at position " + std::to_string(i);
            return invalid(kind, message);
        }
    }
    if (value.front() == '.' || value.front() == '-') {
        std::string message = name + " id must not start with ";
        message += value.front();
        return invalid(kind, message);
    }
    return std::nullopt;
}

}  // namespace aw
