/* example_provider.c: the worked example of the Agent Worker provider SDK.
 *
 * A complete provider in plain C99 that needs nothing but <agent_worker/provider_abi.h>.
 * Its "agent CLI" is cat: the host runs `cat`, and every line cat prints becomes one
 * message.delta event. Real providers do the same job with a richer parser (one CLI line
 * may become a tool.start, a todo.update and a usage event at once).
 *
 * It needs only the SDK's two C headers: provider_abi.h (the ABI) and event_types.h (the
 * event type names, as string literals that paste into the JSON texts below).
 *
 * Build it out of tree (see docs/plugin-sdk.md):
 *     cc -std=c99 -shared -fPIC -I<prefix>/include example_provider.c -o example.so
 *
 * Three rules shape this file:
 * - Every buffer handed to the host is malloc'ed here and freed by our own free_buffer:
 *   the host and the plugin may not even share a C library, so memory goes back to
 *   whoever allocated it.
 * - Every failure is a status plus a message in the host's aw_error, never a crash: a
 *   crash costs every run this provider has in flight, not just the one that failed.
 * - Run state lives in aw_run, never in globals: one process multiplexes all of this
 *   provider's runs, and after a crash the host replays a run into a fresh aw_run.
 */
#include <agent_worker/event_types.h> /* the AW_EVENT_* type names */
#include <agent_worker/provider_abi.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The header only declares aw_run; each plugin defines what a run remembers. */
struct aw_run {
    unsigned long lines; /* lines fed so far, reported as data.line */
};

/* ---- errors ------------------------------------------------------------------------ */

/* The host zeroes aw_error before each call and copies the message after a failure, so
 * writing a bounded, NUL-terminated string is all there is to it. */
static aw_status fail(aw_error* error, aw_status status, const char* format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(error->message, sizeof error->message, format, args);
    va_end(args);
    return status;
}

/* ---- building JSON output ---------------------------------------------------------- */

/* A growable string. An allocation failure is remembered rather than reported at once,
 * so the code below can append freely and check a single time, in finish(). */
typedef struct text {
    char* data;
    size_t size;
    size_t capacity;
    int out_of_memory;
} text;

static void append(text* t, const char* bytes, size_t n) {
    if (t->out_of_memory) return;
    if (t->size + n + 1 > t->capacity) {
        size_t capacity = t->capacity ? t->capacity : 128;
        while (capacity < t->size + n + 1) capacity *= 2;
        char* grown = realloc(t->data, capacity);
        if (grown == NULL) {
            t->out_of_memory = 1;
            return;
        }
        t->data = grown;
        t->capacity = capacity;
    }
    memcpy(t->data + t->size, bytes, n);
    t->size += n;
    t->data[t->size] = '\0'; /* not needed by the host (it uses size), handy in a debugger */
}

static void append_str(text* t, const char* s) { append(t, s, strlen(s)); }

static void append_ulong(text* t, unsigned long value) {
    char digits[24];
    snprintf(digits, sizeof digits, "%lu", value);
    append_str(t, digits);
}

static void append_long(text* t, long value) {
    char digits[24];
    snprintf(digits, sizeof digits, "%ld", value);
    append_str(t, digits);
}

/* Appends bytes as a JSON string literal. The host parses everything a plugin returns,
 * and a CLI line may hold quotes, backslashes, tabs or even NUL bytes (hence the explicit
 * length). Bytes >= 0x80 are copied unchanged: CLIs print UTF-8, and UTF-8 is valid in a
 * JSON string as is. (A line that is not valid UTF-8 would make the whole output
 * invalid; a production plugin replaces such bytes with U+FFFD.) */
static void append_json_string(text* t, const char* bytes, size_t n) {
    append(t, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)bytes[i];
        if (c == '"' || c == '\\') {
            char escaped[2] = {'\\', (char)c};
            append(t, escaped, 2);
        } else if (c < 0x20) { /* JSON forbids raw control characters in strings */
            char escaped[8];
            snprintf(escaped, sizeof escaped, "\\u%04x", (unsigned)c);
            append(t, escaped, 6);
        } else {
            append(t, bytes + i, 1);
        }
    }
    append(t, "\"", 1);
}

/* Hands the finished text to the host; ownership passes with it until free_buffer. */
static aw_status finish(text* t, aw_buffer* out, aw_error* error) {
    if (t->out_of_memory) {
        free(t->data);
        return fail(error, AW_ERR_INTERNAL, "example: out of memory");
    }
    out->data = t->data;
    out->size = t->size;
    return AW_OK;
}

/* A fixed document still has to be a fresh allocation: the host will free_buffer it. */
static aw_status reply_with(const char* json, aw_buffer* out, aw_error* error) {
    text t = {0};
    append_str(&t, json);
    return finish(&t, out, error);
}

/* ---- the provider functions -------------------------------------------------------- */

static aw_status example_open_run(const char* request, size_t request_size, aw_run** run,
                                  aw_buffer* invocation, aw_error* error) {
    /* A real plugin parses the request (prompt, model, settings.binary, ...) and builds
     * argv from it. cat needs none of it, so a sanity check is enough; rejecting bad input
     * with AW_ERR_INVALID_INPUT fails this run only, with a message the user can read. */
    size_t i = 0;
    while (i < request_size && (request[i] == ' ' || request[i] == '\n' ||
                                request[i] == '\r' || request[i] == '\t'))
        i++;
    if (i == request_size || request[i] != '{')
        return fail(error, AW_ERR_INVALID_INPUT, "example: the request is not a JSON object");

    aw_run* state = calloc(1, sizeof *state);
    if (state == NULL) return fail(error, AW_ERR_INTERNAL, "example: out of memory");

    /* keep_stdin_open false: the host closes cat's stdin at once, so cat ends by itself.
     * A CLI driven through a stdin protocol would keep it open and add a "stdin" preamble. */
    aw_status status = reply_with(
        "{\"argv\":[\"cat\"],\"env\":{},\"cwd\":\".\",\"keep_stdin_open\":false}", invocation,
        error);
    if (status != AW_OK) {
        free(state); /* the host never sees a run whose open_run failed */
        return status;
    }
    *run = state;
    return AW_OK;
}

static aw_status example_feed(aw_run* run, const char* line, size_t line_size,
                              aw_buffer* output, aw_error* error) {
    run->lines++;
    /* Plugins emit only {"type","data"}: the host adds event_id, run_id, session_id, seq,
     * ts and provider, so replaying the same lines yields the same events.
     * Each line is a whole message of its own: its id names the line, its kind says it is
     * answer text (not reasoning). */
    text t = {0};
    append_str(&t, "{\"events\":[{\"type\":\"" AW_EVENT_MESSAGE_DELTA
                   "\",\"data\":{"
                   "\"message_id\":\"line-");
    append_ulong(&t, run->lines);
    append_str(&t, "\",\"kind\":\"text\",\"text\":");
    append_json_string(&t, line, line_size);
    append_str(&t, ",\"line\":");
    append_ulong(&t, run->lines);
    append_str(&t, "}}]}");
    return finish(&t, output, error);
}

/* Every terminal event says how the CLI ended: exit_code, or signal when a signal ended it
 * (the other one is null). The host passes exit_code -1 when there is none. */
static void append_exit_status(text* t, int32_t exit_code, int32_t signal) {
    append_str(t, "\"exit_code\":");
    if (exit_code >= 0)
        append_long(t, (long)exit_code);
    else
        append_str(t, "null");
    append_str(t, ",\"signal\":");
    if (signal != 0)
        append_long(t, (long)signal);
    else
        append_str(t, "null");
}

static aw_status example_exit_run(aw_run* run, int32_t exit_code, int32_t signal,
                                  int32_t stop_requested, aw_buffer* output, aw_error* error) {
    (void)run;
    /* Exactly one terminal event per run. A clean exit wins even after a stop request (the
     * work did finish); otherwise a requested stop is not a failure. */
    text t = {0};
    if (exit_code == 0 && signal == 0) {
        append_str(&t, "{\"events\":[{\"type\":\"" AW_EVENT_RUN_COMPLETED "\",\"data\":{");
        append_exit_status(&t, exit_code, signal);
    } else if (stop_requested) {
        append_str(&t, "{\"events\":[{\"type\":\"" AW_EVENT_RUN_STOPPED "\",\"data\":{");
        append_exit_status(&t, exit_code, signal);
        append_str(&t, ",\"reason\":\"cancelled\"");
    } else {
        /* process_error: the CLI ended without reporting an outcome (docs/events.md). */
        append_str(&t, "{\"events\":[{\"type\":\"" AW_EVENT_RUN_FAILED "\",\"data\":{");
        append_exit_status(&t, exit_code, signal);
        append_str(&t, ",\"error\":{\"class\":\"process_error\",\"message\":\"cat ");
        if (signal != 0) {
            append_str(&t, "was killed by signal ");
            append_long(&t, (long)signal);
        } else {
            append_str(&t, "exited with code ");
            append_long(&t, (long)exit_code);
        }
        append_str(&t, "\"}");
    }
    append_str(&t, "}}]}");
    return finish(&t, output, error);
}

static aw_status example_reply(aw_run* run, const char* reply, size_t reply_size,
                               aw_buffer* output, aw_error* error) {
    (void)run, (void)reply, (void)reply_size, (void)output;
    /* We do not declare AW_CAP_HUMAN_LOOP, so the host should never call this; answering
     * UNSUPPORTED (rather than crashing on an unexpected call) keeps the contract total. */
    return fail(error, AW_ERR_UNSUPPORTED, "example: cat never asks a human (no HUMAN_LOOP)");
}

static aw_status example_interrupt(aw_run* run, aw_buffer* interrupt, aw_error* error) {
    (void)run;
    /* cat has no graceful "stop" command, so SIGINT it is. */
    return reply_with("{\"signal\":\"INT\"}", interrupt, error);
}

static void example_close_run(aw_run* run) { free(run); /* free(NULL) is fine */ }

static void example_free_buffer(aw_buffer* buffer) {
    free(buffer->data);
    buffer->data = NULL;
    buffer->size = 0;
}

/* ---- the table and the entry point ------------------------------------------------- */

/* Static and const: the host keeps this pointer for the life of the process. struct_size
 * and the ABI version are what let hosts and plugins of different minors load each other. */
static const aw_provider example_provider = {
    .struct_size = sizeof(aw_provider),
    .abi_major = AW_PROVIDER_ABI_MAJOR,
    .abi_minor = AW_PROVIDER_ABI_MINOR,
    .name = "example",
    .version = "1.0.0",
    .capabilities = AW_CAP_RUN | AW_CAP_STREAM | AW_CAP_STOP,
    .facts_json = "{\"binary\":\"cat\",\"state_paths\":[],\"default_args\":[],\"env_vars\":[]}",
    .open_run = example_open_run,
    .feed = example_feed,
    .exit_run = example_exit_run,
    .reply = example_reply,
    .interrupt = example_interrupt,
    .close_run = example_close_run,
    .free_buffer = example_free_buffer,
};

/* The only exported symbol (build with -fvisibility=hidden to keep it that way). The
 * host checks abi_major itself, but a plugin may also decline a host it cannot serve. */
AW_PROVIDER_EXPORT const aw_provider* aw_provider_entry(uint16_t host_abi_major,
                                                        uint16_t host_abi_minor) {
    (void)host_abi_minor; /* minors are compatible both ways */
    if (host_abi_major != AW_PROVIDER_ABI_MAJOR) return NULL;
    return &example_provider;
}
