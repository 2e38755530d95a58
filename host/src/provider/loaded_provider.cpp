#include "provider/loaded_provider.h"

#include <boost/dll/import.hpp>
#include <boost/dll/shared_library.hpp>

#include <cstring>

#include "agent_worker/core/event_type.h"
#include "provider/provider_errors.h"

namespace aw {
namespace {

using EntryFunction = const aw_provider*(std::uint16_t, std::uint16_t);

Problem loadProblem(std::string_view code, const std::string& path, const std::string& why,
                    const std::string& hint) {
    return Problem{std::string(code), "cannot load provider plugin " + path + ": " + why, hint};
}

std::string errorText(const aw_error& error) {
    // The plugin may not have terminated it; never read past the array.
    return std::string(error.message, strnlen(error.message, sizeof error.message));
}

std::string statusName(aw_status status) {
    switch (status) {
        case AW_OK: return "ok";
        case AW_ERR_INVALID_INPUT: return "invalid_input";
        case AW_ERR_UNSUPPORTED: return "unsupported";
        case AW_ERR_INTERNAL: return "internal";
    }
    return "status " + std::to_string(static_cast<int>(status));
}

}  // namespace

void validateOutputDocument(const nlohmann::json& output, PluginCall call, std::size_t maxEvents) {
    const CheckedOutput checked = checkPluginOutput(output, call, maxEvents);
    if (checked.accepted()) return;
    // The check's reason as is: the same words whichever path rejected the output.
    throw RejectedOutputError({"invalid_plugin_output", checked.reason(),
                               "fix the plugin; docs/events.md lists what each event type needs"},
                              checked.stdinBytes, checked.closeStdin);
}

bool isValidProviderName(std::string_view name) {
    if (name.empty() || name.size() > AW_PROVIDER_NAME_MAX || name.front() == '-') return false;
    for (char c : name) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
    }
    return true;
}

std::unique_ptr<LoadedProvider> LoadedProvider::load(const std::string& path,
                                                     PluginOutputLimits limits) {
    // Deliberately leaked: a plugin is never unloaded (its static destructors and threads
    // could outlive dlclose); the process exits instead.
    auto* library = new boost::dll::shared_library();
    try {
        library->load(path, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
    } catch (const std::exception& e) {
        throw ProblemError(loadProblem(provider_error::kPluginLoadFailed, path, e.what(),
                                       "check that the file is a shared library built for this "
                                       "machine, with all its dependencies present"));
    }
    if (!library->has(AW_PROVIDER_ENTRY_SYMBOL)) {
        throw ProblemError(loadProblem(provider_error::kMissingEntry, path,
                                       "it does not export " + std::string(AW_PROVIDER_ENTRY_SYMBOL),
                                       "export `extern \"C\" const aw_provider* "
                                       "aw_provider_entry(uint16_t, uint16_t)` with default "
                                       "visibility (AW_PROVIDER_EXPORT)"));
    }
    auto entry = boost::dll::import<EntryFunction>(*library, AW_PROVIDER_ENTRY_SYMBOL);
    const aw_provider* table = entry(AW_PROVIDER_ABI_MAJOR, AW_PROVIDER_ABI_MINOR);
    if (!table) {
        throw ProblemError(loadProblem(provider_error::kEntryReturnedNull, path,
                                       "its entry function returned no table for host ABI " +
                                           std::to_string(AW_PROVIDER_ABI_MAJOR) + "." +
                                           std::to_string(AW_PROVIDER_ABI_MINOR),
                                       "build the plugin against this host's provider_abi.h"));
    }
    if (table->struct_size < AW_PROVIDER_MIN_STRUCT_SIZE) {
        throw ProblemError(loadProblem(
            provider_error::kTableTooSmall, path,
            "its table is " + std::to_string(table->struct_size) + " bytes, below the minimum of " +
                std::to_string(AW_PROVIDER_MIN_STRUCT_SIZE) + " for ABI " +
                std::to_string(AW_PROVIDER_ABI_MAJOR) + ".0",
            "set struct_size = sizeof(aw_provider) and fill every field"));
    }
    if (table->abi_major != AW_PROVIDER_ABI_MAJOR) {
        throw ProblemError(loadProblem(
            provider_error::kAbiMismatch, path,
            "it was built for provider ABI " + std::to_string(table->abi_major) + "." +
                std::to_string(table->abi_minor) + " but this host speaks ABI " +
                std::to_string(AW_PROVIDER_ABI_MAJOR) + "." + std::to_string(AW_PROVIDER_ABI_MINOR),
            provider_error::hintFor(provider_error::kAbiMismatch, "")));
    }
    const std::string name = table->name ? table->name : "";
    if (!isValidProviderName(name)) {
        throw ProblemError(loadProblem(provider_error::kInvalidName, path,
                                       "its name '" + name + "' is not [a-z0-9-]+ (at most " +
                                           std::to_string(AW_PROVIDER_NAME_MAX) + " characters)",
                                       "use a lower-case name such as \"my-agent\""));
    }
    const bool complete = table->open_run && table->feed && table->exit_run && table->reply &&
                          table->interrupt && table->close_run && table->free_buffer;
    if (!complete) {
        throw ProblemError(loadProblem(provider_error::kIncompleteTable, path,
                                       "its table leaves a function pointer empty",
                                       "set every function; return AW_ERR_UNSUPPORTED from the "
                                       "ones the provider does not offer"));
    }
    ProviderInfo info{name, table->version ? table->version : "", table->abi_major,
                      table->abi_minor, table->capabilities};
    if (table->facts_json) {
        info.facts = nlohmann::json::parse(table->facts_json, nullptr, false);
        if (!info.facts.is_object()) {
            throw ProblemError(loadProblem(provider_error::kInvalidFacts, path,
                                           "its facts_json is not a JSON object",
                                           "see docs/plugin-sdk.md for the facts document"));
        }
    }
    return std::unique_ptr<LoadedProvider>(new LoadedProvider(table, std::move(info), limits));
}

LoadedProvider::LoadedProvider(const aw_provider* table, ProviderInfo info,
                               PluginOutputLimits limits)
    : table_(table), info_(std::move(info)), limits_(limits) {}

std::string LoadedProvider::takeText(const char* operation, aw_status status, aw_buffer& buffer,
                                     const aw_error& error) {
    std::string text;
    if (buffer.data) {
        text.assign(buffer.data, buffer.size);
        table_->free_buffer(&buffer);
    }
    if (status != AW_OK) {
        const std::string message = errorText(error);
        throw PluginCallError({"plugin_error", info_.name + " " + operation + " failed (" +
                                                   statusName(status) + "): " +
                                                   (message.empty() ? "no message" : message),
                               status == AW_ERR_UNSUPPORTED
                                   ? "the provider does not offer this; check its capabilities"
                                   : ""});
    }
    if (text.size() > limits_.maxBytes) {
        throw PluginCallError({"invalid_plugin_output",
                               info_.name + " " + operation + " returned " +
                                   std::to_string(text.size()) + " bytes, over the limit of " +
                                   std::to_string(limits_.maxBytes),
                               "the provider floods; emit fewer or smaller events"});
    }
    return text;
}

nlohmann::json LoadedProvider::parseOutput(const char* operation, const std::string& text) const {
    // One pass: parsed without exceptions, so text that is not JSON is told apart here
    // (a separate json::accept pass cost as much as the parse itself, on every line).
    auto parsed = nlohmann::json::parse(text, nullptr, false);
    if (parsed.is_discarded()) {
        throw PluginCallError({"invalid_plugin_output",
                               info_.name + " " + operation + " returned text that is not JSON",
                               "fix the plugin's output encoding"});
    }
    return parsed;
}

nlohmann::json LoadedProvider::take(const char* operation, aw_status status, aw_buffer& buffer,
                                    const aw_error& error, std::optional<PluginCall> document) {
    auto parsed = parseOutput(operation, takeText(operation, status, buffer, error));
    if (document) validateOutputDocument(parsed, *document, limits_.maxEvents);
    return parsed;
}

aw_run* LoadedProvider::open(const nlohmann::json& request, nlohmann::json& invocation) {
    const std::string text = request.dump();
    aw_run* run = nullptr;
    aw_buffer buffer{nullptr, 0};
    aw_error error{};
    const auto status = table_->open_run(text.data(), text.size(), &run, &buffer, &error);
    try {
        invocation = take("open_run", status, buffer, error, std::nullopt);
    } catch (...) {
        if (run) table_->close_run(run);
        throw;
    }
    if (!invocation.is_object() || !invocation.contains("argv") || !invocation["argv"].is_array() ||
        invocation["argv"].empty()) {
        if (run) table_->close_run(run);
        throw PluginCallError({"invalid_plugin_output",
                               info_.name + " open_run returned an invocation without argv",
                               "return {\"argv\":[...],...}; see docs/plugin-sdk.md"});
    }
    return run;
}

nlohmann::json LoadedProvider::feed(aw_run* run, std::string_view line) {
    std::string text;
    return feedDocument(run, line, text);
}

std::string LoadedProvider::feedText(aw_run* run, std::string_view line) {
    aw_buffer buffer{nullptr, 0};
    aw_error error{};
    const auto status = table_->feed(run, line.data(), line.size(), &buffer, &error);
    return takeText("feed", status, buffer, error);
}

nlohmann::json LoadedProvider::feedDocument(aw_run* run, std::string_view line, std::string& text) {
    aw_buffer buffer{nullptr, 0};
    aw_error error{};
    const auto status = table_->feed(run, line.data(), line.size(), &buffer, &error);
    text = takeText("feed", status, buffer, error);
    auto parsed = parseOutput("feed", text);
    validateOutputDocument(parsed, PluginCall::Feed, limits_.maxEvents);
    return parsed;
}

nlohmann::json LoadedProvider::exit(aw_run* run, int exitCode, int signal, bool stopRequested) {
    aw_buffer buffer{nullptr, 0};
    aw_error error{};
    const auto status = table_->exit_run(run, exitCode, signal, stopRequested ? 1 : 0, &buffer, &error);
    return take("exit_run", status, buffer, error, PluginCall::Exit);
}

nlohmann::json LoadedProvider::reply(aw_run* run, const nlohmann::json& answer) {
    const std::string text = answer.dump();
    aw_buffer buffer{nullptr, 0};
    aw_error error{};
    const auto status = table_->reply(run, text.data(), text.size(), &buffer, &error);
    return take("reply", status, buffer, error, PluginCall::Reply);
}

nlohmann::json LoadedProvider::interrupt(aw_run* run) {
    aw_buffer buffer{nullptr, 0};
    aw_error error{};
    const auto status = table_->interrupt(run, &buffer, &error);
    return take("interrupt", status, buffer, error, std::nullopt);
}

void LoadedProvider::close(aw_run* run) { table_->close_run(run); }

}  // namespace aw
