/* The Agent Worker provider C ABI: the whole SDK for writing a provider plugin.
 *
 * A provider plugin is a shared library (.so) that translates one agent CLI for Agent
 * Worker. It is a translator, not a process manager: the host runs the CLI; the plugin
 * says how to invoke it and turns each line it prints into unified events (see
 * docs/plugin-sdk.md and docs/events.md). Build against this header alone, drop the .so
 * into the plugins directory, and it appears in GET /admin/providers.
 *
 * Rules of the boundary
 * - Only C types cross it: pointers with lengths, integers, UTF-8 JSON text.
 * - No exception may leave a plugin function: catch everything, return a status and
 *   fill the aw_error the host passed in.
 * - Every type below has an OWNERSHIP line saying who allocates and who releases it.
 * - Each plugin runs alone in its own agent-provider-host process and is called from one
 *   thread at a time, so a plugin needs no locking of its own.
 * - Anything the plugin writes to stdout is diverted to the host's log; the protocol
 *   channel is not reachable from the plugin.
 *
 * Versioning
 * - The host refuses a plugin whose abi_major differs from AW_PROVIDER_ABI_MAJOR.
 * - Minor versions only append fields to aw_provider; the host reads only the fields
 *   inside struct_size, so a plugin built for a newer minor loads in an older host and
 *   the reverse (the host treats missing trailing fields as absent).
 */
#ifndef AGENT_WORKER_PROVIDER_ABI_H
#define AGENT_WORKER_PROVIDER_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AW_PROVIDER_ABI_MAJOR 1
#define AW_PROVIDER_ABI_MINOR 0

/* The one symbol a plugin exports (see aw_provider_entry_fn). */
#define AW_PROVIDER_ENTRY_SYMBOL "aw_provider_entry"

/* Longest provider name; names match [a-z0-9-]+ and start with a letter or digit. */
#define AW_PROVIDER_NAME_MAX 64

/* Capability bits. A bit that is not set means "unsupported"; the host gates requests on
 * them (e.g. approval_mode "ask" needs AW_CAP_HUMAN_LOOP). Bits 9..63 are reserved. */
#define AW_CAP_RUN ((uint64_t)1 << 0)                /* can run a prompt to completion */
#define AW_CAP_STREAM ((uint64_t)1 << 1)             /* emits events while running */
#define AW_CAP_STOP ((uint64_t)1 << 2)               /* a run can be stopped */
#define AW_CAP_RESUME ((uint64_t)1 << 3)             /* continues a conversation by id */
#define AW_CAP_HUMAN_LOOP ((uint64_t)1 << 4)         /* asks humans; reply() answers */
#define AW_CAP_TODO ((uint64_t)1 << 5)               /* emits todo.update */
#define AW_CAP_USAGE ((uint64_t)1 << 6)              /* reports token usage */
#define AW_CAP_GRACEFUL_INTERRUPT ((uint64_t)1 << 7) /* interrupt() stops without killing */
#define AW_CAP_LONG_PROMPT ((uint64_t)1 << 8)        /* takes prompts over AW_MAX_ARGUMENT_BYTES */

/* The longest prompt that fits in one command-line argument: Linux refuses an execve
 * argument of MAX_ARG_STRLEN (32 pages) bytes or more, its terminating NUL included. A
 * plugin with AW_CAP_LONG_PROMPT passes a longer one another way (the CLI's stdin, through
 * the invocation's "stdin"); the host refuses it for the other plugins. */
#define AW_MAX_ARGUMENT_BYTES (32 * 4096 - 1)

/* Status of every call. Anything but AW_OK comes with a message in aw_error. */
typedef enum aw_status {
    AW_OK = 0,
    AW_ERR_INVALID_INPUT = 1, /* the host's JSON or arguments were not acceptable */
    AW_ERR_UNSUPPORTED = 2,   /* the operation is not offered (capability not declared) */
    AW_ERR_INTERNAL = 3       /* the plugin failed; the run cannot go on */
} aw_status;

/* Error details for a failed call.
 * OWNERSHIP: allocated by the host (zeroed) and passed to every call; the plugin writes a
 * NUL-terminated UTF-8 message of at most sizeof(message) bytes into it; the host copies it. */
typedef struct aw_error {
    char message[1024];
} aw_error;

/* Bytes the plugin hands to the host (always UTF-8 JSON text here).
 * OWNERSHIP: allocated by the plugin; the host releases it with aw_provider.free_buffer
 * exactly once, after copying. A buffer with data == NULL needs no release. */
typedef struct aw_buffer {
    char* data;
    size_t size;
} aw_buffer;

/* The plugin's state for one run (parser state, ids seen, usage so far...).
 * OWNERSHIP: created by the plugin in open_run, released by the plugin in close_run; the
 * host only passes the pointer back. */
typedef struct aw_run aw_run;

/* The provider's table.
 * OWNERSHIP: owned by the plugin, static for the life of the process (the host never
 * unloads a plugin: its process exits instead). All strings are static, NUL-terminated
 * UTF-8.
 *
 * JSON documents exchanged (full schemas in docs/plugin-sdk.md):
 *   request (open_run input): {"run_id","session_id","prompt","model"?,"approval_mode":
 *       "auto"|"ask","workspace","provider_session_id"?,"previous_usage"?,"settings":
 *       {"binary"?,"args"?:[...],"env"?:{...}}}
 *   invocation (open_run output): {"argv":[...],"env":{...},"cwd","keep_stdin_open":bool,
 *       "stdin"?:"preamble bytes"}
 *   output (feed/exit/reply output): {"events":[{"type":"message.delta","data":{...}},...],
 *       "stdin"?:"bytes to write to the CLI's stdin", "close_stdin"?:true (close the CLI's
 *       stdin after writing, for CLIs that wait for more input until it closes)}
 *   interrupt output: {"signal":"INT"|"TERM"} or {"stdin":"bytes"}
 */
typedef struct aw_provider {
    /* sizeof(aw_provider) as the plugin was compiled: fields past it are absent. */
    uint32_t struct_size;
    uint16_t abi_major; /* AW_PROVIDER_ABI_MAJOR the plugin was built with */
    uint16_t abi_minor; /* AW_PROVIDER_ABI_MINOR the plugin was built with */
    const char* name;    /* unique provider name, [a-z0-9-]+, e.g. "claude-code" */
    const char* version; /* the plugin's own version, e.g. "1.2.0" */
    uint64_t capabilities; /* AW_CAP_* bits */
    /* Facts about the CLI as a JSON object: {"binary":"claude","state_paths":[...],
     * "default_args":[...],"env_vars":[...]} (see docs/plugin-sdk.md). */
    const char* facts_json;

    /* Starts translating a run: parses `request` and returns the CLI invocation.
     * On AW_OK, *run is the new run state and *invocation holds the invocation JSON. */
    aw_status (*open_run)(const char* request, size_t request_size, aw_run** run,
                          aw_buffer* invocation, aw_error* error);

    /* Translates one line of the CLI's stdout (without its newline) into an output
     * document: zero or more events, and optionally bytes for the CLI's stdin. */
    aw_status (*feed)(aw_run* run, const char* line, size_t line_size, aw_buffer* output,
                      aw_error* error);

    /* The CLI ended: exit_code (or -1) and signal (or 0); stop_requested is 1 when the
     * host asked it to stop. Returns the final events, exactly one of them terminal
     * (run.completed, run.failed or run.stopped). */
    aw_status (*exit_run)(aw_run* run, int32_t exit_code, int32_t signal, int32_t stop_requested,
                          aw_buffer* output, aw_error* error);

    /* A human answered a human.request: {"request_id","decision":"allow"|"deny",
     * "message"?,"answers"?}. Returns an output document (usually just "stdin").
     * Plugins without AW_CAP_HUMAN_LOOP return AW_ERR_UNSUPPORTED. */
    aw_status (*reply)(aw_run* run, const char* reply, size_t reply_size, aw_buffer* output,
                       aw_error* error);

    /* How to stop the run gracefully: {"signal":"INT"} or {"stdin":"..."}. */
    aw_status (*interrupt)(aw_run* run, aw_buffer* interrupt, aw_error* error);

    /* Releases the run state. Never fails; run may be NULL. */
    void (*close_run)(aw_run* run);

    /* Releases a buffer this plugin returned. */
    void (*free_buffer)(aw_buffer* buffer);
} aw_provider;

/* The smallest table a host accepts: every field of ABI 1.0. */
#define AW_PROVIDER_MIN_STRUCT_SIZE (offsetof(aw_provider, free_buffer) + sizeof(void (*)(void)))

/* The exported entry point, named AW_PROVIDER_ENTRY_SYMBOL. The host passes its own ABI
 * version; the plugin returns its table (or NULL if it cannot serve that host).
 * OWNERSHIP: the returned table belongs to the plugin (see aw_provider). */
typedef const aw_provider* (*aw_provider_entry_fn)(uint16_t host_abi_major,
                                                    uint16_t host_abi_minor);

#if defined(__GNUC__)
#define AW_PROVIDER_EXPORT __attribute__((visibility("default")))
#else
#define AW_PROVIDER_EXPORT
#endif

#ifdef __cplusplus
}
#endif

#endif /* AGENT_WORKER_PROVIDER_ABI_H */
