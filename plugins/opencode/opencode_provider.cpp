// The opencode provider's C ABI table: every entry point wraps the Translator so that no
// exception crosses the boundary and every failure carries a message.
#include <agent_worker/provider_abi.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "opencode_translator.h"

struct aw_run {
    aw::opencode::Translator translator;
};

namespace {

using aw::opencode::InvalidInput;
using aw::opencode::Json;
using aw::opencode::Unsupported;

// `opencode run` streams, stops (by signal), resumes sessions, reports todos and per-step
// usage. Its permission prompts are auto-rejected in `run` mode (prompts exist only in
// `opencode serve`, not driven here): no HUMAN_LOOP. SIGINT kills it, leaving tool children
// running, so there is no graceful interrupt either.
constexpr uint64_t kCapabilities =
    AW_CAP_RUN | AW_CAP_STREAM | AW_CAP_STOP | AW_CAP_RESUME | AW_CAP_TODO | AW_CAP_USAGE;

constexpr const char* kFacts = R"json({
  "binary": "opencode",
  "package": "opencode-ai",
  "state_paths": ["~/.local/share/opencode"],
  "state_paths_note": "under $XDG_DATA_HOME/opencode when XDG_DATA_HOME is set (opencode.db)",
  "default_args": ["run", "--format", "json", "--thinking"],
  "env_vars": ["OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL",
               "OPENCODE_CONFIG", "XDG_CONFIG_HOME", "XDG_DATA_HOME"],
  "modes": {"auto": "opencode run --format json --auto"}
})json";

aw_status fail(aw_error* error, aw_status status, const char* message) {
    if (error) std::snprintf(error->message, sizeof(error->message), "%s", message);
    return status;
}

aw_status give(aw_buffer* buffer, const std::string& text, aw_error* error) {
    char* data = static_cast<char*>(std::malloc(text.size() + 1));
    if (!data) return fail(error, AW_ERR_INTERNAL, "opencode: out of memory");
    std::memcpy(data, text.data(), text.size());
    data[text.size()] = '\0';
    buffer->data = data;
    buffer->size = text.size();
    return AW_OK;
}

// Runs `body` and turns every exception into a status and a message.
template <class Body>
aw_status guarded(aw_error* error, Body&& body) {
    try {
        return body();
    } catch (const InvalidInput& e) {
        return fail(error, AW_ERR_INVALID_INPUT, e.what());
    } catch (const Unsupported& e) {
        return fail(error, AW_ERR_UNSUPPORTED, e.what());
    } catch (const std::bad_alloc&) {
        return fail(error, AW_ERR_INTERNAL, "opencode: out of memory");
    } catch (const std::exception& e) {
        return fail(error, AW_ERR_INTERNAL, e.what());
    } catch (...) {
        return fail(error, AW_ERR_INTERNAL, "opencode: unknown failure");
    }
}

aw_status openRun(const char* request, size_t requestSize, aw_run** run, aw_buffer* invocation,
                  aw_error* error) {
    if (!request || !run || !invocation) {
        return fail(error, AW_ERR_INVALID_INPUT, "open_run: null argument");
    }
    return guarded(error, [&] {
        auto parsed = aw::opencode::RunRequest::parse(std::string_view(request, requestSize));
        auto state = new aw_run{aw::opencode::Translator(std::move(parsed))};
        const aw_status status =
            give(invocation, aw::opencode::dumpJson(state->translator.invocation()), error);
        if (status != AW_OK) {
            delete state;
            return status;
        }
        *run = state;
        return AW_OK;
    });
}

aw_status feed(aw_run* run, const char* line, size_t lineSize, aw_buffer* output, aw_error* error) {
    if (!run || !output || (!line && lineSize)) {
        return fail(error, AW_ERR_INVALID_INPUT, "feed: null argument");
    }
    return guarded(error, [&] {
        const auto out = run->translator.feed(std::string_view(line ? line : "", lineSize));
        return give(output, aw::opencode::dumpJson(out.document()), error);
    });
}

aw_status exitRun(aw_run* run, int32_t exitCode, int32_t signal, int32_t stopRequested,
                  aw_buffer* output, aw_error* error) {
    if (!run || !output) return fail(error, AW_ERR_INVALID_INPUT, "exit_run: null argument");
    return guarded(error, [&] {
        const auto out = run->translator.exit(exitCode, signal, stopRequested != 0);
        return give(output, aw::opencode::dumpJson(out.document()), error);
    });
}

aw_status reply(aw_run* run, const char*, size_t, aw_buffer*, aw_error* error) {
    if (!run) return fail(error, AW_ERR_INVALID_INPUT, "reply: null argument");
    return fail(error, AW_ERR_UNSUPPORTED,
                "opencode has no human loop: `opencode run` auto-rejects permission prompts, so "
                "there is nothing to reply to (runs need approval_mode \"auto\")");
}

aw_status interrupt(aw_run* run, aw_buffer* output, aw_error* error) {
    if (!run || !output) return fail(error, AW_ERR_INVALID_INPUT, "interrupt: null argument");
    // opencode run has no stop request; SIGINT ends the process (by signal).
    return guarded(error, [&] { return give(output, R"({"signal":"INT"})", error); });
}

void closeRun(aw_run* run) {
    delete run;
}

void freeBuffer(aw_buffer* buffer) {
    if (!buffer) return;
    std::free(buffer->data);
    buffer->data = nullptr;
    buffer->size = 0;
}

const aw_provider kProvider = {
    sizeof(aw_provider),
    AW_PROVIDER_ABI_MAJOR,
    AW_PROVIDER_ABI_MINOR,
    "opencode",
    "0.1.0",
    kCapabilities,
    kFacts,
    openRun,
    feed,
    exitRun,
    reply,
    interrupt,
    closeRun,
    freeBuffer,
};

}  // namespace

extern "C" AW_PROVIDER_EXPORT const aw_provider* aw_provider_entry(uint16_t hostAbiMajor,
                                                                   uint16_t /*hostAbiMinor*/) {
    return hostAbiMajor == AW_PROVIDER_ABI_MAJOR ? &kProvider : nullptr;
}
