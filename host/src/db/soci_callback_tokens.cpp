#include "db/soci_callback_tokens.h"

#include "agent_worker/core/time_format.h"
#include "db/soci_statements.h"

namespace aw {
namespace {

//! The lookup every callback makes, prepared once per connection.
struct TokenLookup {
    std::string digest, sessionId, executorId;
    soci::statement find;

    explicit TokenLookup(soci::session& sql)
        : find((sql.prepare << "SELECT session_id, executor_id FROM worker_callback_tokens"
                               " WHERE digest = :digest",
                soci::use(digest), soci::into(sessionId), soci::into(executorId))) {}
};

}  // namespace

void SociCallbackTokenRegistry::put(const std::string& sessionId, const std::string& executorId,
                                    const TokenDigest& digest, bool replace) {
    const std::string digestText = digestHex(digest);
    const long long now = unixMillisNow();
    const std::string onConflict =
        replace ? " ON CONFLICT (session_id) DO UPDATE SET executor_id = excluded.executor_id,"
                  " digest = excluded.digest, bound_at_ms = excluded.bound_at_ms"
                : " ON CONFLICT DO NOTHING";
    database_.withSession([&](soci::session& sql) {
        sql << "INSERT INTO worker_callback_tokens (session_id, executor_id, digest, bound_at_ms)"
               " VALUES (:sid, :eid, :digest, :now)" +
                   onConflict,
            soci::use(sessionId), soci::use(executorId), soci::use(digestText), soci::use(now);
    });
}

void SociCallbackTokenRegistry::erase(const std::string& sessionId) {
    database_.withSession([&](soci::session& sql) {
        sql << "DELETE FROM worker_callback_tokens WHERE session_id = :sid", soci::use(sessionId);
    });
}

std::optional<CallbackCaller> SociCallbackTokenRegistry::find(const TokenDigest& digest) {
    return database_.withPrepared<TokenLookup>(
        [&](TokenLookup& lookup) -> std::optional<CallbackCaller> {
            lookup.digest = digestHex(digest);
            const bool found = lookup.find.execute(true);
            stmt::finish(lookup.find);
            if (!found) return std::nullopt;
            return CallbackCaller{lookup.executorId, lookup.sessionId, false};
        });
}

}  // namespace aw
