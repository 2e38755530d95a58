/* test_plugin.h: shared plumbing for the test plugins in this folder.
 *
 * Each test plugin is one small file that misbehaves in one way (crashes, hangs, floods,
 * lies about its ABI...). Everything else it needs, a correct provider that echoes lines
 * like the SDK example (tests/plugins/example/example_provider.c), lives here, so each
 * file shows only its misbehaviour. All functions are static inline: nothing here is
 * exported, and a plugin that does not use one gets no unused-function warning.
 */
#ifndef AW_TEST_PLUGIN_H
#define AW_TEST_PLUGIN_H

#include <agent_worker/event_types.h>
#include <agent_worker/provider_abi.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct aw_run {
    unsigned long lines;
};

static inline aw_status tp_fail(aw_error* error, aw_status status, const char* format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(error->message, sizeof error->message, format, args);
    va_end(args);
    return status;
}

/* Growable string; an allocation failure is remembered and reported by tp_finish. */
typedef struct tp_text {
    char* data;
    size_t size;
    size_t capacity;
    int out_of_memory;
} tp_text;

static inline void tp_append(tp_text* t, const char* bytes, size_t n) {
    if (t->out_of_memory) return;
    if (t->size + n + 1 > t->capacity) {
        size_t capacity = t->capacity ? t->capacity : 128;
        while (capacity < t->size + n + 1) capacity *= 2;
        char* grown = (char*)realloc(t->data, capacity);
        if (grown == NULL) {
            t->out_of_memory = 1;
            return;
        }
        t->data = grown;
        t->capacity = capacity;
    }
    memcpy(t->data + t->size, bytes, n);
    t->size += n;
    t->data[t->size] = '\0';
}

static inline void tp_append_str(tp_text* t, const char* s) { tp_append(t, s, strlen(s)); }

static inline void tp_appendf(tp_text* t, const char* format, ...) {
    char chunk[256];
    va_list args;
    va_start(args, format);
    int n = vsnprintf(chunk, sizeof chunk, format, args);
    va_end(args);
    if (n > 0) tp_append(t, chunk, (size_t)n < sizeof chunk ? (size_t)n : sizeof chunk - 1);
}

static inline void tp_append_json_string(tp_text* t, const char* bytes, size_t n) {
    tp_append(t, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)bytes[i];
        if (c == '"' || c == '\\') {
            char escaped[2] = {'\\', (char)c};
            tp_append(t, escaped, 2);
        } else if (c < 0x20) {
            char escaped[8];
            snprintf(escaped, sizeof escaped, "\\u%04x", (unsigned)c);
            tp_append(t, escaped, 6);
        } else {
            tp_append(t, bytes + i, 1);
        }
    }
    tp_append(t, "\"", 1);
}

static inline aw_status tp_finish(tp_text* t, aw_buffer* out, aw_error* error) {
    if (t->out_of_memory) {
        free(t->data);
        return tp_fail(error, AW_ERR_INTERNAL, "test plugin: out of memory");
    }
    out->data = t->data;
    out->size = t->size;
    return AW_OK;
}

static inline aw_status tp_reply_with(const char* json, aw_buffer* out, aw_error* error) {
    tp_text t = {0, 0, 0, 0};
    tp_append_str(&t, json);
    return tp_finish(&t, out, error);
}

/* The echo output every well-behaved test plugin returns for a line:
 * {"events":[{"type":"message.delta","data":{"message_id":"line-n","kind":"text",
 *  "text":<line>,"line":n,<extra>}}]}
 * where extra_fields is "" or JSON members without the leading comma. */
static inline aw_status tp_echo(aw_run* run, const char* line, size_t line_size,
                                const char* extra_fields, aw_buffer* output, aw_error* error) {
    tp_text t = {0, 0, 0, 0};
    run->lines++;
    tp_appendf(&t,
               "{\"events\":[{\"type\":\"" AW_EVENT_MESSAGE_DELTA
               "\",\"data\":{"
               "\"message_id\":\"line-%lu\",\"kind\":\"text\",\"text\":",
               run->lines);
    tp_append_json_string(&t, line, line_size);
    tp_appendf(&t, ",\"line\":%lu", run->lines);
    if (extra_fields != NULL && extra_fields[0] != '\0') {
        tp_append(&t, ",", 1);
        tp_append_str(&t, extra_fields);
    }
    tp_append_str(&t, "}}]}");
    return tp_finish(&t, output, error);
}

/* ---- default provider functions (the SDK example's behaviour) ---------------------- */

static inline aw_status tp_open_run(const char* request, size_t request_size, aw_run** run,
                                    aw_buffer* invocation, aw_error* error) {
    if (request_size == 0 || request[0] != '{')
        return tp_fail(error, AW_ERR_INVALID_INPUT, "test plugin: the request is not a JSON object");
    aw_run* state = (aw_run*)calloc(1, sizeof *state);
    if (state == NULL) return tp_fail(error, AW_ERR_INTERNAL, "test plugin: out of memory");
    aw_status status = tp_reply_with(
        "{\"argv\":[\"cat\"],\"env\":{},\"cwd\":\".\",\"keep_stdin_open\":false}", invocation, error);
    if (status != AW_OK) {
        free(state);
        return status;
    }
    *run = state;
    return AW_OK;
}

static inline aw_status tp_feed(aw_run* run, const char* line, size_t line_size,
                                aw_buffer* output, aw_error* error) {
    return tp_echo(run, line, line_size, "", output, error);
}

/* The terminal event: exit_code and signal (null for the one that did not end the CLI), as
 * every terminal event carries them. */
static inline aw_status tp_exit_run(aw_run* run, int32_t exit_code, int32_t signal,
                                    int32_t stop_requested, aw_buffer* output, aw_error* error) {
    char exit_code_text[16] = "null";
    char signal_text[16] = "null";
    char json[256];
    (void)run;
    if (exit_code >= 0) snprintf(exit_code_text, sizeof exit_code_text, "%d", (int)exit_code);
    if (signal != 0) snprintf(signal_text, sizeof signal_text, "%d", (int)signal);
    if (exit_code == 0 && signal == 0)
        snprintf(json, sizeof json,
                 "{\"events\":[{\"type\":\"" AW_EVENT_RUN_COMPLETED
                 "\",\"data\":{"
                 "\"exit_code\":0,\"signal\":null}}]}");
    else if (stop_requested)
        snprintf(json, sizeof json,
                 "{\"events\":[{\"type\":\"" AW_EVENT_RUN_STOPPED
                 "\",\"data\":{"
                 "\"exit_code\":%s,\"signal\":%s,\"reason\":\"cancelled\"}}]}",
                 exit_code_text, signal_text);
    else
        snprintf(json, sizeof json,
                 "{\"events\":[{\"type\":\"" AW_EVENT_RUN_FAILED
                 "\",\"data\":{"
                 "\"exit_code\":%s,\"signal\":%s,\"error\":{\"class\":\"process_error\","
                 "\"message\":\"exit code %d, signal %d\"}}}]}",
                 exit_code_text, signal_text, (int)exit_code, (int)signal);
    return tp_reply_with(json, output, error);
}

static inline aw_status tp_reply(aw_run* run, const char* reply, size_t reply_size,
                                 aw_buffer* output, aw_error* error) {
    (void)run, (void)reply, (void)reply_size, (void)output;
    return tp_fail(error, AW_ERR_UNSUPPORTED, "test plugin: no HUMAN_LOOP");
}

static inline aw_status tp_interrupt(aw_run* run, aw_buffer* interrupt, aw_error* error) {
    (void)run;
    return tp_reply_with("{\"signal\":\"INT\"}", interrupt, error);
}

static inline void tp_close_run(aw_run* run) { free(run); }

static inline void tp_free_buffer(aw_buffer* buffer) {
    free(buffer->data);
    buffer->data = NULL;
    buffer->size = 0;
}

#define TP_CAPABILITIES (AW_CAP_RUN | AW_CAP_STREAM | AW_CAP_STOP)
#define TP_FACTS "{\"binary\":\"cat\",\"state_paths\":[],\"default_args\":[],\"env_vars\":[]}"

/* A valid ABI 1.x table named NAME whose feed is FEED; everything else is the default. */
#define TP_TABLE(NAME, VERSION, FEED)                                                       \
    {                                                                                       \
        .struct_size = sizeof(aw_provider), .abi_major = AW_PROVIDER_ABI_MAJOR,             \
        .abi_minor = AW_PROVIDER_ABI_MINOR, .name = (NAME), .version = (VERSION),           \
        .capabilities = TP_CAPABILITIES, .facts_json = TP_FACTS, .open_run = tp_open_run,   \
        .feed = (FEED), .exit_run = tp_exit_run, .reply = tp_reply,                         \
        .interrupt = tp_interrupt, .close_run = tp_close_run, .free_buffer = tp_free_buffer \
    }

/* Defines the exported entry point returning TABLE (an aw_provider lvalue). */
#define TP_ENTRY(TABLE)                                                                    \
    AW_PROVIDER_EXPORT const aw_provider* aw_provider_entry(uint16_t host_abi_major,      \
                                                            uint16_t host_abi_minor) {    \
        (void)host_abi_major, (void)host_abi_minor;                                        \
        return &(TABLE);                                                                   \
    }

#endif /* AW_TEST_PLUGIN_H */
