// Loading and driving provider plugins for the provider tests (see provider_harness.h).
#include "provider_harness.h"

#include <dlfcn.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

namespace aw::provider_tests {
namespace {

bool isTerminal(const std::string& type) {
    return type == "run.completed" || type == "run.failed" || type == "run.stopped";
}

std::vector<std::string> splitLines(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream stream(text);
    for (std::string line; std::getline(stream, line);) lines.push_back(line);
    return lines;
}

}  // namespace

const aw_provider& loadProvider(const std::string& name) {
    static std::map<std::string, const aw_provider*> loaded;
    if (auto found = loaded.find(name); found != loaded.end()) return *found->second;
    const std::string path = std::string(AW_PROVIDER_PLUGIN_DIR) + "/" + name + ".so";
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) throw std::runtime_error("cannot load " + path + ": " + dlerror());
    auto entry = reinterpret_cast<aw_provider_entry_fn>(dlsym(handle, AW_PROVIDER_ENTRY_SYMBOL));
    if (!entry) throw std::runtime_error(path + " has no " AW_PROVIDER_ENTRY_SYMBOL);
    const aw_provider* table = entry(AW_PROVIDER_ABI_MAJOR, AW_PROVIDER_ABI_MINOR);
    if (!table)
        throw std::runtime_error(path + " refused ABI " + std::to_string(AW_PROVIDER_ABI_MAJOR));
    loaded[name] = table;
    return *table;
}

PluginRun::PluginRun(const aw_provider& provider, const Json& request)
    : PluginRun(provider, std::string_view(request.dump())) {}

PluginRun::PluginRun(const aw_provider& provider, std::string_view requestText)
    : provider_(provider) {
    aw_buffer buffer{};
    aw_error error{};
    const aw_status status =
        provider_.open_run(requestText.data(), requestText.size(), &run_, &buffer, &error);
    open_ = collect(status, buffer, error);
    if (status != AW_OK) run_ = nullptr;
}

PluginRun::~PluginRun() {
    provider_.close_run(run_);
}

CallResult PluginRun::collect(aw_status status, aw_buffer& buffer, const aw_error& error) const {
    CallResult result;
    result.status = status;
    result.error = std::string(error.message, strnlen(error.message, sizeof(error.message)));
    if (buffer.data) {
        const std::string text(buffer.data, buffer.size);
        provider_.free_buffer(&buffer);
        result.document = Json::parse(text, nullptr, false);
        result.outputIsJson = !result.document.is_discarded();
        if (!result.outputIsJson) result.document = nullptr;
    }
    return result;
}

CallResult PluginRun::record(CallResult result) {
    if (result.status != AW_OK || !result.document.is_object()) return result;
    if (auto events = result.document.find("events"); events != result.document.end()) {
        for (const Json& event : *events) events_.push_back(event);
    }
    if (auto bytes = result.document.find("stdin"); bytes != result.document.end()) {
        stdinWrites_.push_back(bytes->get<std::string>());
    }
    if (result.document.value("close_stdin", false)) ++closeStdinRequests_;
    return result;
}

CallResult PluginRun::feed(std::string_view line) {
    aw_buffer buffer{};
    aw_error error{};
    const aw_status status = provider_.feed(run_, line.data(), line.size(), &buffer, &error);
    return record(collect(status, buffer, error));
}

CallResult PluginRun::exit(int exitCode, int signal, bool stopRequested) {
    aw_buffer buffer{};
    aw_error error{};
    const aw_status status =
        provider_.exit_run(run_, exitCode, signal, stopRequested ? 1 : 0, &buffer, &error);
    return record(collect(status, buffer, error));
}

CallResult PluginRun::reply(std::string_view reply) {
    aw_buffer buffer{};
    aw_error error{};
    const aw_status status = provider_.reply(run_, reply.data(), reply.size(), &buffer, &error);
    return record(collect(status, buffer, error));
}

CallResult PluginRun::interrupt() {
    aw_buffer buffer{};
    aw_error error{};
    const aw_status status = provider_.interrupt(run_, &buffer, &error);
    // Not an output document: its stdin bytes are not recorded as a write.
    return collect(status, buffer, error);
}

std::vector<Json> PluginRun::eventsOfType(std::string_view type) const {
    std::vector<Json> found;
    for (const Json& event : events_) {
        if (event.value("type", "") == type) found.push_back(event.value("data", Json::object()));
    }
    return found;
}

std::vector<std::string> PluginRun::terminalTypes() const {
    std::vector<std::string> types;
    for (const Json& event : events_) {
        const std::string type = event.value("type", "");
        if (isTerminal(type)) types.push_back(type);
    }
    return types;
}

Json PluginRun::terminal() const {
    Json found;
    int count = 0;
    for (const Json& event : events_) {
        if (isTerminal(event.value("type", ""))) {
            found = event.value("data", Json::object());
            ++count;
        }
    }
    return count == 1 ? found : Json();
}

std::vector<std::string> PluginRun::messageTexts(std::string_view kind) const {
    std::vector<std::string> texts;
    for (const Json& data : eventsOfType("message.stop")) {
        if (data.value("kind", "") == kind) texts.push_back(data.value("text", ""));
    }
    return texts;
}

std::string readFixtureFile(const std::string& fileName) {
    std::ifstream file(std::string(AW_PROVIDER_FIXTURE_DIR) + "/" + fileName, std::ios::binary);
    if (!file) return {};
    std::ostringstream text;
    text << file.rdbuf();
    return text.str();
}

Fixture loadFixture(const std::string& name) {
    Fixture fixture;
    const std::string stream = readFixtureFile(name + ".jsonl");
    if (stream.empty()) throw std::runtime_error("missing fixture " + name + ".jsonl");
    fixture.lines = splitLines(stream);
    fixture.meta = Json::parse(readFixtureFile(name + ".meta.json"));
    fixture.stdinLines = splitLines(readFixtureFile(name + ".stdin.jsonl"));
    return fixture;
}

std::vector<std::string> allFixtureNames() {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(AW_PROVIDER_FIXTURE_DIR)) {
        const std::string file = entry.path().filename().string();
        if (file.ends_with(".jsonl") && !file.ends_with(".stdin.jsonl") &&
            !file.ends_with(".http.jsonl")) {
            names.push_back(file.substr(0, file.size() - 6));
        }
    }
    std::sort(names.begin(), names.end());
    return names;
}

int Fixture::exitCode() const {
    if (signal() != 0) return -1;
    const Json code = meta.value("exit_code", Json());
    return code.is_number() ? code.get<int>() : -1;
}

int Fixture::signal() const {
    const Json signal = meta.value("exit_signal", Json());
    return signal.is_number() ? signal.get<int>() : 0;
}

bool Fixture::stopWasSent() const {
    const Json signals = meta.value("signals", Json::array());
    return signals.is_array() && !signals.empty();
}

std::string oneLine(std::string_view json) {
    return Json::parse(json).dump();
}

Json runRequest(const Json& overrides) {
    Json request{{"run_id", "run-1"},
                 {"session_id", "ses-1"},
                 {"prompt", "make hello.txt"},
                 {"workspace", "/work/ws"},
                 {"approval_mode", "auto"}};
    for (const auto& [key, value] : overrides.items()) request[key] = value;
    return request;
}

void replay(PluginRun& run, const Fixture& fixture, std::optional<bool> stopRequested) {
    for (const std::string& line : fixture.lines) run.feed(line);
    run.exit(fixture.exitCode(), fixture.signal(), stopRequested.value_or(fixture.stopWasSent()));
}

}  // namespace aw::provider_tests
