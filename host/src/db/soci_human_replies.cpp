// SociRunStore, human replies between replicas: a reply that reaches a host not driving the
// run waits on its request for the host that does (sql/*/..._forwarded_replies.sql).
#include "db/pg_event_listener.h"
#include "db/soci_run_rows.h"
#include "db/soci_run_store.h"

namespace aw {

using stmt::execute;

bool SociRunStore::forwardHumanReply(const std::string& runId, const std::string& requestId,
                                     const std::string& replyJson) {
    return database_.withSession([&](soci::session& sql) {
        const Dialect dialect = run_rows::dialectOf(sql);
        WriteTransaction transaction(sql, dialect);
        const bool left =
            execute(sql,
                    "UPDATE human_loop SET forwarded_reply = :reply, reply_error = NULL"
                    " WHERE run_id = :rid AND request_id = :request"
                    " AND status = 'pending' AND forwarded_reply IS NULL",
                    replyJson, runId, requestId) == 1;
        if (left && dialect == Dialect::Postgresql) {
            // Delivered with the commit, so the driving host reads the reply it announces.
            execute(sql, "SELECT pg_notify('" + std::string(kRunControlChannel) + "', :notice)",
                    runNotice(hostId_, runId));
        }
        transaction.commit();
        return left;
    });
}

void SociRunStore::settleForwardedReply(const std::string& runId, const std::string& requestId,
                                        const std::string& error) {
    database_.withSession([&](soci::session& sql) {
        execute(sql,
                "UPDATE human_loop SET forwarded_reply = NULL, reply_error = :error"
                " WHERE run_id = :rid AND request_id = :request",
                stmt::NullableText(error), runId, requestId);
    });
}

}  // namespace aw
