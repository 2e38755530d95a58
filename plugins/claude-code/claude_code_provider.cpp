// The claude-code provider's C ABI table: every entry point wraps the Translator so that no
// exception crosses the boundary and every failure carries a message.
#include <agent_worker/provider_abi.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "claude_code_translator.h"

struct aw_run {
    aw::claude_code::Translator translator;
};

namespace {

using aw::claude_code::InvalidInput;
using aw::claude_code::Json;
using aw::claude_code::Unsupported;

// Print mode and stdio mode both stream, stop, resume, report tasks and usage; stdio mode adds
// the permission prompts (HUMAN_LOOP) and the interrupt control request that ends the turn
// without killing anything (SIGINT in print mode also ends it cleanly with a result).
constexpr uint64_t kCapabilities = AW_CAP_RUN | AW_CAP_STREAM | AW_CAP_STOP | AW_CAP_RESUME |
                                   AW_CAP_HUMAN_LOOP | AW_CAP_TODO | AW_CAP_USAGE |
                                   AW_CAP_GRACEFUL_INTERRUPT;

constexpr const char* kFacts = R"json({
  "binary": "claude",
  "package": "@anthropic-ai/claude-code",
  "state_paths": ["~/.claude/projects"],
  "default_args": ["-p", "--output-format", "stream-json", "--verbose"],
  "env_vars": ["ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"],
  "modes": {"auto": "print mode, --dangerously-skip-permissions",
            "ask": "stdio protocol mode, --permission-prompt-tool stdio"}
})json";

aw_status fail(aw_error* error, aw_status status, const char* message) {
    if (error) std::snprintf(error->message, sizeof(error->message), "%s", message);
    return status;
}

aw_status give(aw_buffer* buffer, const std::string& text, aw_error* error) {
    char* data = static_cast<char*>(std::malloc(text.size() + 1));
    if (!data) return fail(error, AW_ERR_INTERNAL, "claude-code: out of memory");
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
        return fail(error, AW_ERR_INTERNAL, "claude-code: out of memory");
    } catch (const std::exception& e) {
        return fail(error, AW_ERR_INTERNAL, e.what());
    } catch (...) {
        return fail(error, AW_ERR_INTERNAL, "claude-code: unknown failure");
    }
}

aw_status openRun(const char* request, size_t requestSize, aw_run** run, aw_buffer* invocation,
                  aw_error* error) {
    if (!request || !run || !invocation) {
        return fail(error, AW_ERR_INVALID_INPUT, "open_run: null argument");
    }
    return guarded(error, [&] {
        auto parsed = aw::claude_code::RunRequest::parse(std::string_view(request, requestSize));
        auto state = new aw_run{aw::claude_code::Translator(std::move(parsed))};
        const aw_status status =
            give(invocation, aw::claude_code::dumpJson(state->translator.invocation()), error);
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
        return give(output, aw::claude_code::dumpJson(out.document()), error);
    });
}

aw_status exitRun(aw_run* run, int32_t exitCode, int32_t signal, int32_t stopRequested,
                  aw_buffer* output, aw_error* error) {
    if (!run || !output) return fail(error, AW_ERR_INVALID_INPUT, "exit_run: null argument");
    return guarded(error, [&] {
        const auto out = run->translator.exit(exitCode, signal, stopRequested != 0);
        return give(output, aw::claude_code::dumpJson(out.document()), error);
    });
}

aw_status reply(aw_run* run, const char* answer, size_t answerSize, aw_buffer* output,
                aw_error* error) {
    if (!run || !output || !answer)
        return fail(error, AW_ERR_INVALID_INPUT, "reply: null argument");
    return guarded(error, [&] {
        const auto out = run->translator.reply(std::string_view(answer, answerSize));
        return give(output, aw::claude_code::dumpJson(out.document()), error);
    });
}

aw_status interrupt(aw_run* run, aw_buffer* output, aw_error* error) {
    if (!run || !output) return fail(error, AW_ERR_INVALID_INPUT, "interrupt: null argument");
    return guarded(error, [&] {
        return give(output, aw::claude_code::dumpJson(run->translator.interrupt()), error);
    });
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
    "claude-code",
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
