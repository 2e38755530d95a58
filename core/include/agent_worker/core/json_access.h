// The one set of JSON access helpers of core and host (plugins have the SDK's own, in
// provider_plugin_run.hpp, since they build against the SDK alone):
//   - StrictObject reads a document we accept from outside (HTTP bodies, the runtime
//     manifest, restore plans, the executor protocol, provider-host requests): a wrong type
//     is an error naming the field, and finish() makes unknown keys errors too, so a typo
//     never silently means "default";
//   - stringOr / integerOr read documents the host itself wrote (stored events, the
//     executor's exit record) leniently: a missing or mistyped field reads as the fallback.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "agent_worker/core/enum_names.h"
#include "agent_worker/core/problem.h"

namespace aw {

//! `object[key]` when it is a string, else `fallback`.
inline std::string stringOr(const nlohmann::json& object, std::string_view key, std::string fallback = {}) {
    if (!object.is_object()) return fallback;
    const auto it = object.find(key);
    return it != object.end() && it->is_string() ? it->get<std::string>() : fallback;
}

//! `object[key]` when it is an integer, else nullopt.
inline std::optional<std::int64_t> integerAt(const nlohmann::json& object, std::string_view key) {
    if (!object.is_object()) return std::nullopt;
    const auto it = object.find(key);
    if (it == object.end() || !it->is_number_integer()) return std::nullopt;
    return it->get<std::int64_t>();
}

//! Which document is being read: gives every error its code and hint.
struct JsonDocumentKind {
    std::string_view code;  //!< e.g. `invalid_restore_plan`
    std::string_view hint;
};

[[noreturn]] inline void throwJsonProblem(const JsonDocumentKind& kind, std::string message) {
    throw ProblemError(Problem{std::string(kind.code), std::move(message), std::string(kind.hint)});
}

//! Parses `text`, turning syntax errors into the document's Problem.
inline nlohmann::json parseJsonText(const JsonDocumentKind& kind, std::string_view what,
                                    std::string_view text) {
    try {
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& error) {
        std::string message(what);
        message += " is not valid JSON: ";
        message += error.what();
        throwJsonProblem(kind, std::move(message));
    }
}

//! One JSON object, read key by key; finish() rejects the keys nobody asked for.
class StrictObject {
public:
    //! `path` names the object in messages, e.g. `entries[2]`.
    StrictObject(const JsonDocumentKind& kind, const nlohmann::json& value, std::string path)
        : kind_(kind), value_(value), path_(std::move(path)) {
        if (!value_.is_object())
            fail((path_.empty() ? "the document" : path_) + " must be an object");
    }

    std::string pathOf(std::string_view key) const {
        std::string path = path_;
        if (!path.empty()) path += '.';
        path += key;
        return path;
    }

    [[noreturn]] void fail(std::string message) const {
        throwJsonProblem(kind_, std::move(message));
    }

    const nlohmann::json* find(std::string_view key) {
        seen_.insert(std::string(key));
        const auto it = value_.find(key);
        return it == value_.end() ? nullptr : &*it;
    }

    const nlohmann::json& require(std::string_view key) {
        const nlohmann::json* value = find(key);
        if (!value) fail(pathOf(key) + " is missing");
        return *value;
    }

    std::string requiredString(std::string_view key) {
        const nlohmann::json& value = require(key);
        if (!value.is_string()) fail(pathOf(key) + " must be a string");
        return value.get<std::string>();
    }

    std::optional<std::string> optionalString(std::string_view key) {
        const nlohmann::json* value = find(key);
        if (!value) return std::nullopt;
        if (!value->is_string()) fail(pathOf(key) + " must be a string");
        return value->get<std::string>();
    }

    bool optionalBool(std::string_view key, bool fallback) {
        const nlohmann::json* value = find(key);
        if (!value) return fallback;
        if (!value->is_boolean()) fail(pathOf(key) + " must be true or false");
        return value->get<bool>();
    }

    bool requiredBool(std::string_view key) {
        const nlohmann::json& value = require(key);
        if (!value.is_boolean()) fail(pathOf(key) + " must be true or false");
        return value.get<bool>();
    }

    std::int64_t requiredInteger(std::string_view key) {
        const nlohmann::json& value = require(key);
        if (!value.is_number_integer()) fail(pathOf(key) + " must be an integer");
        return value.get<std::int64_t>();
    }

    std::optional<std::int64_t> optionalInteger(std::string_view key) {
        const nlohmann::json* value = find(key);
        if (!value) return std::nullopt;
        if (!value->is_number_integer()) fail(pathOf(key) + " must be an integer");
        return value->get<std::int64_t>();
    }

    //! Absent and null both mean "none".
    std::optional<std::int64_t> nullableInteger(std::string_view key) {
        const nlohmann::json* value = find(key);
        if (!value || value->is_null()) return std::nullopt;
        if (!value->is_number_integer()) fail(pathOf(key) + " must be an integer or null");
        return value->get<std::int64_t>();
    }

    double requiredNumber(std::string_view key) {
        const nlohmann::json& value = require(key);
        if (!value.is_number()) fail(pathOf(key) + " must be a number");
        return value.get<double>();
    }

    const nlohmann::json& requiredArray(std::string_view key) {
        const nlohmann::json& value = require(key);
        if (!value.is_array()) fail(pathOf(key) + " must be an array");
        return value;
    }

    const nlohmann::json* optionalArray(std::string_view key) {
        const nlohmann::json* value = find(key);
        if (value && !value->is_array()) fail(pathOf(key) + " must be an array");
        return value;
    }

    const nlohmann::json* optionalObject(std::string_view key) {
        const nlohmann::json* value = find(key);
        if (value && !value->is_object()) fail(pathOf(key) + " must be an object");
        return value;
    }

    template <typename Enum, std::size_t N>
    Enum requiredEnum(std::string_view key, const EnumNameTable<Enum, N>& table) {
        return enumFrom(key, requiredString(key), table);
    }

    template <typename Enum, std::size_t N>
    std::optional<Enum> optionalEnum(std::string_view key, const EnumNameTable<Enum, N>& table) {
        const auto name = optionalString(key);
        if (!name) return std::nullopt;
        return enumFrom(key, *name, table);
    }

    //! Every key must have been read: an unknown one is most likely a typo.
    void finish() const {
        for (const auto& [key, unused] : value_.items()) {
            if (!seen_.contains(key)) fail(pathOf(key) + " is not a known field");
        }
    }

private:
    template <typename Enum, std::size_t N>
    Enum enumFrom(std::string_view key, const std::string& name,
                  const EnumNameTable<Enum, N>& table) const {
        if (const auto value = parseIn(table, name)) return *value;
        std::string message = pathOf(key);
        message += " is \"";
        message += name;
        message += "\", expected one of: ";
        message += joinedNamesIn(table);
        fail(std::move(message));
    }

    const JsonDocumentKind& kind_;
    const nlohmann::json& value_;
    std::string path_;
    std::set<std::string> seen_;
};

//! `path[index]`, for messages about array elements.
inline std::string indexedPath(std::string_view path, std::size_t index) {
    std::string text(path);
    text += '[';
    text += std::to_string(index);
    text += ']';
    return text;
}

}  // namespace aw
