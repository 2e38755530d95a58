/* event_types.h: the names of the unified event types (part of the provider SDK).
 *
 * Plain C99, no dependencies: a plugin in any language that can include a C header writes
 * AW_EVENT_TOOL_START instead of "tool.start", so a typo is a compile error rather than an
 * output the host rejects. The macros are string literals, so C code can also paste them
 * into a JSON text: "{\"type\":\"" AW_EVENT_MESSAGE_DELTA "\",\"data\":{...}}".
 *
 * What each type's `data` holds, and which fields are required, is in docs/events.md
 * ("Every type at a glance"). The host checks every plugin output against that table.
 *
 * Who may emit which type:
 *
 *   type                   plugin  host   notes
 *   ---------------------  ------  -----  ---------------------------------------------------
 *   provider.session       yes     -      the CLI's own session id (for resume)
 *   provider.notice        yes     -      something to show while the CLI works (a retry)
 *   message.start          yes     -
 *   message.delta          yes     -
 *   message.stop           yes     -      full text; triggers a workspace sync
 *   tool.start             yes     -
 *   tool.result            yes     -
 *   todo.update            yes     -      the whole list, never a diff
 *   human.request          yes     -      only with AW_CAP_HUMAN_LOOP
 *   human.response         yes*    yes    *plugin: only {decision "cancelled", by "provider"}
 *   usage                  yes     -
 *   run.completed          yes**   yes    **plugin: only from exit_run, exactly one of the
 *   run.failed             yes**   yes      three terminal types
 *   run.stopped            yes**   yes
 *   run.queued             -       yes
 *   run.started            -       yes
 *   run.waiting_human      -       yes
 *   run.resumed            -       yes
 *   workspace.restore      -       yes
 *   workspace.sync         -       yes
 *   provider.quarantine    -       yes    a line that kept crashing the plugin was skipped
 *   provider.line_error    -       yes    a line whose plugin output was rejected
 *
 * A plugin output holding a host-only type, an unknown type or a required field that is
 * missing or of the wrong JSON type is rejected as a whole: none of that line's events is
 * stored, and the host records a provider.line_error event in their place.
 */
#ifndef AGENT_WORKER_EVENT_TYPES_H
#define AGENT_WORKER_EVENT_TYPES_H

/* ---- emitted by plugins ------------------------------------------------------------ */

/* The CLI's own session id, to resume the conversation in a later run. */
#define AW_EVENT_PROVIDER_SESSION "provider.session"
/* A notice a chat UI may show while the CLI works, e.g. an API error the CLI retries. */
#define AW_EVENT_PROVIDER_NOTICE "provider.notice"
/* An assistant message (answer text or reasoning) begins. */
#define AW_EVENT_MESSAGE_START "message.start"
/* The next piece of a message's text. */
#define AW_EVENT_MESSAGE_DELTA "message.delta"
/* A message ended; carries its whole text. */
#define AW_EVENT_MESSAGE_STOP "message.stop"
/* The agent called a tool. */
#define AW_EVENT_TOOL_START "tool.start"
/* A tool call's outcome (exactly one per tool.start). */
#define AW_EVENT_TOOL_RESULT "tool.result"
/* The agent's whole todo list, each time it changes. */
#define AW_EVENT_TODO_UPDATE "todo.update"
/* The agent waits for a human: a permission or a question (AW_CAP_HUMAN_LOOP). */
#define AW_EVENT_HUMAN_REQUEST "human.request"
/* A human request was answered or withdrawn (a plugin: withdrawn by the CLI only). */
#define AW_EVENT_HUMAN_RESPONSE "human.response"
/* Token usage of this run so far. */
#define AW_EVENT_USAGE "usage"

/* ---- terminal: exactly one per run, from exit_run (or from the host) ---------------- */

/* The CLI finished its turn. */
#define AW_EVENT_RUN_COMPLETED "run.completed"
/* The run failed; data.error says why. */
#define AW_EVENT_RUN_FAILED "run.failed"
/* The run ended because the host asked it to stop. */
#define AW_EVENT_RUN_STOPPED "run.stopped"

/* ---- emitted by the host only: a plugin output holding one of these is rejected ------ */

/* The run was queued (again, after a failed attempt, with data.retry). */
#define AW_EVENT_RUN_QUEUED "run.queued"
/* The CLI was started for the run. */
#define AW_EVENT_RUN_STARTED "run.started"
/* The run waits for a human's answer to a human.request. */
#define AW_EVENT_RUN_WAITING_HUMAN "run.waiting_human"
/* The last pending human request was answered; the run goes on. */
#define AW_EVENT_RUN_RESUMED "run.resumed"
/* The session's workspace was restored before the run. */
#define AW_EVENT_WORKSPACE_RESTORE "workspace.restore"
/* The workspace was synced to the object store (after message.stop events). */
#define AW_EVENT_WORKSPACE_SYNC "workspace.sync"
/* A CLI line that kept crashing the plugin was skipped. */
#define AW_EVENT_PROVIDER_QUARANTINE "provider.quarantine"
/* A CLI line whose plugin output was rejected; its events were not stored. */
#define AW_EVENT_PROVIDER_LINE_ERROR "provider.line_error"

#endif /* AGENT_WORKER_EVENT_TYPES_H */
