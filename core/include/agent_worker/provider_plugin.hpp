// provider_plugin.hpp: the C++ plugin kit of the Agent Worker provider SDK.
//
// provider_abi.h is the whole contract; this optional, header-only C++17 layer on top of it
// writes the parts every C++ plugin repeats, so that a plugin is only its CLI's translation:
//
//   - the boundary (this file): AW_PROVIDER_PLUGIN(Provider) generates the static aw_provider
//     table and the exported aw_provider_entry. Each table function checks its arguments,
//     catches every exception (InvalidInput -> AW_ERR_INVALID_INPUT, Unsupported ->
//     AW_ERR_UNSUPPORTED, anything else -> AW_ERR_INTERNAL), fills aw_error and
//     allocates/frees the aw_buffers; open_run parses the host's request (RunRequest),
//     exit_run refuses a second call;
//   - what a Run is written with (provider_plugin_run.hpp, included here): tolerant JSON
//     access for CLI lines that may hold anything (stringAt, countAt, ...); the request
//     (RunRequest) and the output document (Output); JsonLines, which reads a JSON-lines
//     stdout and counts what it skips; UnfinishedTools and terminalData for the events that
//     end a run.
//
// A plugin is a Run class, one object per run (docs/plugin-sdk.md has a complete example):
//
//   class Run {
//   public:
//       explicit Run(RunRequest request);       // may throw InvalidInput or Unsupported
//       Json invocation() const;                // argv, env, cwd, keep_stdin_open, stdin?
//       Output feed(std::string_view line);     // one stdout line, without its newline
//       Output exit(int32_t exitCode, int32_t signal, bool stopRequested);
//       Output reply(std::string_view reply);   // only with AW_CAP_HUMAN_LOOP
//       Json interrupt();                       // optional: {"signal":"INT"} without it
//   };
//
// plus a description of its table, and one line that makes them the plugin:
//
//   struct MyProvider {
//       using Run = ::Run;
//       static constexpr const char* kName = "my-cli";
//       static constexpr const char* kVersion = "1.0.0";
//       static constexpr uint64_t kCapabilities = AW_CAP_RUN | AW_CAP_STREAM | AW_CAP_STOP;
//       static constexpr const char* kFacts = R"({"binary":"my-cli", ...})";
//       // Without AW_CAP_HUMAN_LOOP: why approval_mode "ask" and replies are refused.
//       static constexpr const char* kAskRefusal = "my-cli never asks: use approval_mode auto";
//       static constexpr const char* kReplyRefusal = "my-cli has no human loop: ...";
//   };
//   AW_PROVIDER_PLUGIN(MyProvider)
//
// feed, exit and reply may return an Output or a Json document. Everything here is inline or
// a template and, on GCC and Clang, hidden: the plugin exports aw_provider_entry and nothing
// else. Needs provider_abi.h, event_types.h, provider_plugin_run.hpp (all beside it) and
// nlohmann/json.hpp (3.11), nothing else of Agent Worker.
#ifndef AGENT_WORKER_PROVIDER_PLUGIN_HPP
#define AGENT_WORKER_PROVIDER_PLUGIN_HPP

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "provider_abi.h"
#include "provider_plugin_run.hpp"

#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

namespace aw::plugin {

// ---------------------------------------------------------------------------------------------
// The C boundary: what AW_PROVIDER_PLUGIN(Provider) instantiates.

namespace detail {

//! Writes the concatenated `parts` into error->message, cut to fit (never inside a UTF-8
//! character) and NUL-terminated; no-op without an error. Allocates nothing, so it also
//! reports running out of memory.
inline void writeError(aw_error* error, std::initializer_list<std::string_view> parts) {
    if (!error) return;
    constexpr size_t kRoom = sizeof(error->message) - 1;
    char* text = error->message;
    size_t size = 0;
    bool cut = false;
    for (std::string_view part : parts) {
        const size_t take = std::min(part.size(), kRoom - size);
        cut = cut || take < part.size();
        std::memcpy(text + size, part.data(), take);
        size += take;
    }
    if (cut) {
        // Drop a trailing multi-byte character whose continuation bytes did not fit.
        size_t lead = size;
        while (lead > 0 && (static_cast<unsigned char>(text[lead - 1]) & 0xC0) == 0x80) --lead;
        if (lead > 0) {
            const auto first = static_cast<unsigned char>(text[lead - 1]);
            const size_t length = first >= 0xF0 ? 4 : first >= 0xE0 ? 3 : first >= 0xC0 ? 2 : 1;
            if (length > 1 && size - (lead - 1) < length) size = lead - 1;
        }
    }
    text[size] = '\0';
}

//! Fills `error` with `message` and returns `status`.
inline aw_status fail(aw_error* error, aw_status status, std::string_view message) {
    writeError(error, {message});
    return status;
}

//! Same, for failures without a message of their own: "<provider>: <what>".
inline aw_status fail(aw_error* error, aw_status status, const char* provider,
                      std::string_view what) {
    writeError(error, {provider, ": ", what});
    return status;
}

//! Hands `text` to the host in `buffer`.
//! OWNERSHIP: malloc'ed here (NUL-terminated, size without the NUL); the host returns it to
//! freeBuffer below exactly once.
inline aw_status give(aw_buffer* buffer, const std::string& text, aw_error* error,
                      const char* provider) {
    char* data = static_cast<char*>(std::malloc(text.size() + 1));
    if (!data) return fail(error, AW_ERR_INTERNAL, provider, "out of memory");
    std::memcpy(data, text.data(), text.size());
    data[text.size()] = '\0';
    buffer->data = data;
    buffer->size = text.size();
    return AW_OK;
}

inline void freeBuffer(aw_buffer* buffer) {
    if (!buffer) return;
    std::free(buffer->data);
    buffer->data = nullptr;
    buffer->size = 0;
}

//! The text of what a Run method returned: an Output or a ready JSON document.
inline std::string documentText(const Output& output) {
    return dumpJson(output.document());
}
inline std::string documentText(const Json& document) {
    return dumpJson(document);
}

//! Whether a Run offers reply() and interrupt(); both are optional.
template <class T, class = void>
struct HasReply : std::false_type {};
template <class T>
struct HasReply<T, std::void_t<decltype(std::declval<T&>().reply(std::string_view()))>>
    : std::true_type {};
template <class T, class = void>
struct HasInterrupt : std::false_type {};
template <class T>
struct HasInterrupt<T, std::void_t<decltype(std::declval<T&>().interrupt())>> : std::true_type {};

//! The table functions for Provider (see the header comment for what Provider declares).
template <class Provider>
struct Table {
    using Run = typename Provider::Run;
    static_assert(HasReply<Run>::value == ((Provider::kCapabilities & AW_CAP_HUMAN_LOOP) != 0),
                  "Run::reply exists exactly when the provider declares AW_CAP_HUMAN_LOOP");

    //! The state behind one aw_run*.
    //! OWNERSHIP: created with new in openRun, deleted in closeRun; the host holds it as an
    //! opaque aw_run* (never dereferenced, only passed back), hence the reinterpret_casts.
    struct Slot {
        explicit Slot(RunRequest request) : run(std::move(request)) {}
        Run run;
        bool exited = false;  // exit_run was called: a run has one terminal event
    };
    static Slot* slotOf(aw_run* run) { return reinterpret_cast<Slot*>(run); }

    //! Runs `body` and turns every exception into a status and a message.
    template <class Body>
    static aw_status guarded(aw_error* error, Body&& body) {
        try {
            return body();
        } catch (const InvalidInput& e) {
            return fail(error, AW_ERR_INVALID_INPUT, e.what());
        } catch (const Unsupported& e) {
            return fail(error, AW_ERR_UNSUPPORTED, e.what());
        } catch (const std::bad_alloc&) {
            return fail(error, AW_ERR_INTERNAL, Provider::kName, "out of memory");
        } catch (const std::exception& e) {
            return fail(error, AW_ERR_INTERNAL, e.what());
        } catch (...) {
            return fail(error, AW_ERR_INTERNAL, Provider::kName, "unknown failure");
        }
    }

    //! What approval_mode "ask" is refused with: nothing for a provider with a human loop.
    static const char* askRefusal() {
        if constexpr ((Provider::kCapabilities & AW_CAP_HUMAN_LOOP) != 0) {
            return nullptr;
        } else {
            return Provider::kAskRefusal;
        }
    }

    static aw_status give(aw_buffer* buffer, const std::string& text, aw_error* error) {
        return detail::give(buffer, text, error, Provider::kName);
    }

    static aw_status openRun(const char* request, size_t requestSize, aw_run** run,
                             aw_buffer* invocation, aw_error* error) {
        if (!request || !run || !invocation) {
            return fail(error, AW_ERR_INVALID_INPUT, "open_run: null argument");
        }
        return guarded(error, [&] {
            auto slot = std::make_unique<Slot>(
                RunRequest::parse(std::string_view(request, requestSize), askRefusal()));
            const aw_status status = give(invocation, dumpJson(slot->run.invocation()), error);
            if (status == AW_OK) *run = reinterpret_cast<aw_run*>(slot.release());
            return status;
        });
    }

    static aw_status feed(aw_run* run, const char* line, size_t lineSize, aw_buffer* output,
                          aw_error* error) {
        if (!run || !output || (!line && lineSize)) {
            return fail(error, AW_ERR_INVALID_INPUT, "feed: null argument");
        }
        return guarded(error, [&] {
            Run& state = slotOf(run)->run;
            return give(output,
                        documentText(state.feed(std::string_view(line ? line : "", lineSize))),
                        error);
        });
    }

    static aw_status exitRun(aw_run* run, int32_t exitCode, int32_t signal, int32_t stopRequested,
                             aw_buffer* output, aw_error* error) {
        if (!run || !output) return fail(error, AW_ERR_INVALID_INPUT, "exit_run: null argument");
        return guarded(error, [&] {
            Slot& slot = *slotOf(run);
            if (slot.exited) throw InvalidInput("exit_run was already called for this run");
            slot.exited = true;
            return give(output, documentText(slot.run.exit(exitCode, signal, stopRequested != 0)),
                        error);
        });
    }

    static aw_status reply(aw_run* run, const char* answer, size_t answerSize, aw_buffer* output,
                           aw_error* error) {
        if constexpr (HasReply<Run>::value) {
            if (!run || !output || !answer) {
                return fail(error, AW_ERR_INVALID_INPUT, "reply: null argument");
            }
            return guarded(error, [&] {
                Run& state = slotOf(run)->run;
                return give(output, documentText(state.reply(std::string_view(answer, answerSize))),
                            error);
            });
        } else {
            (void)answer, (void)answerSize, (void)output;
            if (!run) return fail(error, AW_ERR_INVALID_INPUT, "reply: null argument");
            return fail(error, AW_ERR_UNSUPPORTED, Provider::kReplyRefusal);
        }
    }

    static aw_status interrupt(aw_run* run, aw_buffer* output, aw_error* error) {
        if (!run || !output) return fail(error, AW_ERR_INVALID_INPUT, "interrupt: null argument");
        return guarded(error, [&] {
            if constexpr (HasInterrupt<Run>::value) {
                return give(output, documentText(slotOf(run)->run.interrupt()), error);
            } else {
                return give(output, R"({"signal":"INT"})", error);
            }
        });
    }

    static void closeRun(aw_run* run) { delete slotOf(run); }

    //! OWNERSHIP: static, never freed (the host never unloads a plugin).
    static constexpr aw_provider kTable = {
        sizeof(aw_provider),      // struct_size
        AW_PROVIDER_ABI_MAJOR,    // abi_major
        AW_PROVIDER_ABI_MINOR,    // abi_minor
        Provider::kName,          // name
        Provider::kVersion,       // version
        Provider::kCapabilities,  // capabilities
        Provider::kFacts,         // facts_json
        &Table::openRun,          // open_run
        &Table::feed,             // feed
        &Table::exitRun,          // exit_run
        &Table::reply,            // reply
        &Table::interrupt,        // interrupt
        &Table::closeRun,         // close_run
        &freeBuffer,              // free_buffer
    };
};

}  // namespace detail

//! The body of aw_provider_entry: Provider's table for hosts of this ABI major, else null.
template <class Provider>
const aw_provider* providerEntry(uint16_t hostAbiMajor, uint16_t /*hostAbiMinor*/) {
    return hostAbiMajor == AW_PROVIDER_ABI_MAJOR ? &detail::Table<Provider>::kTable : nullptr;
}

}  // namespace aw::plugin

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

//! Makes Provider (a class as in the header comment) the plugin: defines the exported
//! aw_provider_entry. Use it once, at global scope, in one source file of the plugin.
#define AW_PROVIDER_PLUGIN(Provider)                                                            \
    extern "C" AW_PROVIDER_EXPORT const aw_provider* aw_provider_entry(uint16_t hostAbiMajor,   \
                                                                       uint16_t hostAbiMinor) { \
        return ::aw::plugin::providerEntry<Provider>(hostAbiMajor, hostAbiMinor);               \
    }

#endif  // AGENT_WORKER_PROVIDER_PLUGIN_HPP
