#include "agent_worker/core/identifiers.h"

#include <string>

namespace aw {
namespace {

bool isAllowed(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

}  // namespace

std::string identifierHint() {
    return "use 1-" + std::to_string(kMaxIdentifierLength) +
           " characters of letters, digits, '.', '_' and '-', starting with a letter, digit "
           "or '_'";
}

std::optional<std::string> identifierFault(std::string_view value) {
    if (value.empty()) return "is empty";
    if (value.size() > kMaxIdentifierLength) {
        return "is " + std::to_string(value.size()) + " characters long, over the limit of " +
               std::to_string(kMaxIdentifierLength);
    }
    for (std::size_t i = 0; i < value.size(); ++i) {
        const unsigned char c = static_cast<unsigned char>(value[i]);
        if (!isAllowed(value[i])) {
            std::string fault = "contains ";
            if (c < 0x20 || c == 0x7f) {
                fault += "a control character";
            } else {
                fault += '\'';
                fault += value[i];
                fault += '\'';
            }
            fault += " at position " + std::to_string(i);
            return fault;
        }
    }
    // A leading '.' would allow `.` and `..`; a leading '-' looks like an option to tools.
    if (value.front() == '.' || value.front() == '-') {
        std::string fault = "must not start with ";
        fault += value.front();
        return fault;
    }
    return std::nullopt;
}

std::optional<Problem> checkIdentifier(std::string_view kind, std::string_view value) {
    const auto fault = identifierFault(value);
    if (!fault) return std::nullopt;
    std::string message(kind);
    message += " id ";
    message += *fault;
    return Problem{"invalid_" + std::string(kind), std::move(message), identifierHint()};
}

}  // namespace aw
