/* lying-events: returns well-formed JSON whose events break the event table on some lines,
 * the way a careless plugin would. The host must reject each such line as a whole and say
 * which and why (docs/events.md, "Every type at a glance"):
 *   a line containing "unknown"  -> an echo, then an event of a type that does not exist
 *   a line containing "host"     -> a run.queued event, which only the host emits, and
 *                                   bytes for the CLI's stdin (which still reach it)
 *   a line containing "missing"  -> a tool.start without its name
 *   a line containing "terminal" -> a run.completed from feed, which only exit_run returns
 * Any other line is echoed correctly. */
#include "test_plugin.h"

static int contains(const char* line, size_t line_size, const char* word) {
    size_t n = strlen(word);
    for (size_t i = 0; i + n <= line_size; i++)
        if (memcmp(line + i, word, n) == 0) return 1;
    return 0;
}

static aw_status lying_feed(aw_run* run, const char* line, size_t line_size, aw_buffer* output,
                            aw_error* error) {
    const char* lie = NULL;
    if (contains(line, line_size, "unknown"))
        lie = "{\"events\":[{\"type\":\"" AW_EVENT_MESSAGE_DELTA
              "\",\"data\":{\"message_id\":\"m\",\"kind\":\"text\",\"text\":\"fine so far\"}},"
              "{\"type\":\"message.shout\",\"data\":{\"text\":\"HI\"}}]}";
    else if (contains(line, line_size, "host"))
        lie = "{\"events\":[{\"type\":\"" AW_EVENT_RUN_QUEUED
              "\",\"data\":{}}],"
              "\"stdin\":\"still answered\\n\"}";
    else if (contains(line, line_size, "missing"))
        lie = "{\"events\":[{\"type\":\"" AW_EVENT_TOOL_START
              "\",\"data\":{\"tool_call_id\":\"t1\",\"input\":{}}}]}";
    else if (contains(line, line_size, "terminal"))
        lie = "{\"events\":[{\"type\":\"" AW_EVENT_RUN_COMPLETED
              "\",\"data\":{\"exit_code\":0,\"signal\":null}}]}";
    if (lie == NULL) return tp_echo(run, line, line_size, "", output, error);
    run->lines++;
    return tp_reply_with(lie, output, error);
}

static const aw_provider table = TP_TABLE("lying-events", "1.0.0", lying_feed);
TP_ENTRY(table)
