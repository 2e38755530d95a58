// The codex-cli provider's C ABI table: every entry point wraps the Translator so that no
// exception crosses the boundary and every failure carries a message.
#include <agent_worker/provider_abi.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "codex_cli_translator.h"

struct aw_run {
    aw::codex_cli::Translator translator;
};

namespace {

using aw::codex_cli::InvalidInput;
using aw::codex_cli::Json;
using aw::codex_cli::Unsupported;

// `codex exec` streams, stops (SIGINT), resumes threads, reports its plan and usage. It never
// asks a human (approvals live only in `codex app-server`, not driven here): no HUMAN_LOOP.
// SIGINT ends it with exit 1 and no final line, so there is no graceful interrupt either.
constexpr uint64_t kCapabilities =
    AW_CAP_RUN | AW_CAP_STREAM | AW_CAP_STOP | AW_CAP_RESUME | AW_CAP_TODO | AW_CAP_USAGE;

constexpr const char* kFacts = R"json({
  "binary": "codex",
  "package": "@openai/codex",
  "state_paths": ["~/.codex/sessions"],
  "state_paths_note": "under $CODEX_HOME/sessions when CODEX_HOME is set",
  "default_args": ["exec", "--json", "--skip-git-repo-check",
                   "--dangerously-bypass-approvals-and-sandbox"],
  "env_vars": ["OPENAI_API_KEY", "OPENAI_BASE_URL", "CODEX_HOME"],
  "modes": {"auto": "codex exec --json"}
})json";

aw_status fail(aw_error* error, aw_status status, const char* message) {
    if (error) std::snprintf(error->message, sizeof(error->message), "%s", message);
    return status;
}

aw_status give(aw_buffer* buffer, const std::string& text, aw_error* error) {
    char* data = static_cast<char*>(std::malloc(text.size() + 1));
    if (!data) return fail(error, AW_ERR_INTERNAL, "codex-cli: out of memory");
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
        return fail(error, AW_ERR_INTERNAL, "codex-cli: out of memory");
    } catch (const std::exception& e) {
        return fail(error, AW_ERR_INTERNAL, e.what());
    } catch (...) {
        return fail(error, AW_ERR_INTERNAL, "codex-cli: unknown failure");
    }
}

aw_status openRun(const char* request, size_t requestSize, aw_run** run, aw_buffer* invocation,
                  aw_error* error) {
    if (!request || !run || !invocation) {
        return fail(error, AW_ERR_INVALID_INPUT, "open_run: null argument");
    }
    return guarded(error, [&] {
        auto parsed = aw::codex_cli::RunRequest::parse(std::string_view(request, requestSize));
        auto state = new aw_run{aw::codex_cli::Translator(std::move(parsed))};
        const aw_status status =
            give(invocation, aw::codex_cli::dumpJson(state->translator.invocation()), error);
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
        return give(output, aw::codex_cli::dumpJson(out.document()), error);
    });
}

aw_status exitRun(aw_run* run, int32_t exitCode, int32_t signal, int32_t stopRequested,
                  aw_buffer* output, aw_error* error) {
    if (!run || !output) return fail(error, AW_ERR_INVALID_INPUT, "exit_run: null argument");
    return guarded(error, [&] {
        const auto out = run->translator.exit(exitCode, signal, stopRequested != 0);
        return give(output, aw::codex_cli::dumpJson(out.document()), error);
    });
}

aw_status reply(aw_run* run, const char*, size_t, aw_buffer*, aw_error* error) {
    if (!run) return fail(error, AW_ERR_INVALID_INPUT, "reply: null argument");
    return fail(error, AW_ERR_UNSUPPORTED,
                "codex-cli has no human loop: `codex exec` never asks for approval, so there is "
                "nothing to reply to (runs need approval_mode \"auto\")");
}

aw_status interrupt(aw_run* run, aw_buffer* output, aw_error* error) {
    if (!run || !output) return fail(error, AW_ERR_INVALID_INPUT, "interrupt: null argument");
    // Codex has no stop request on stdin in exec mode; SIGINT ends the process (exit 1).
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
    "codex-cli",
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
