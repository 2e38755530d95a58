// One table per enum maps values to their wire names; parsing and printing both use it.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace aw {

template <typename Enum, std::size_t N>
using EnumNameTable = std::array<std::pair<Enum, std::string_view>, N>;

template <typename Enum, std::size_t N>
constexpr std::string_view nameIn(const EnumNameTable<Enum, N>& table, Enum value) {
    for (const auto& [candidate, name] : table) {
        if (candidate == value) return name;
    }
    return "unknown";
}

template <typename Enum, std::size_t N>
constexpr std::optional<Enum> parseIn(const EnumNameTable<Enum, N>& table, std::string_view name) {
    for (const auto& [candidate, candidateName] : table) {
        if (candidateName == name) return candidate;
    }
    return std::nullopt;
}

//! Every wire name, comma-separated, for messages that say what would have been accepted.
template <typename Enum, std::size_t N>
std::string joinedNamesIn(const EnumNameTable<Enum, N>& table) {
    std::string joined;
    for (const auto& [candidate, name] : table) {
        if (!joined.empty()) joined += ", ";
        joined += name;
    }
    return joined;
}

}  // namespace aw
