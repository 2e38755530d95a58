#include "db/soci_executor_directory.h"

#include "agent_worker/core/time_format.h"

namespace aw {

namespace {
constexpr const char* kSecretFingerprint = "secret_fingerprint";
}

std::string SociExecutorDirectory::adoptSecretFingerprint(const std::string& fingerprint) {
    const std::string name = kSecretFingerprint;  // bound by reference: kept while it runs
    return database_.withSession([&](soci::session& sql) {
        sql << "INSERT INTO cluster_settings (name, value) VALUES (:name, :value)"
               " ON CONFLICT (name) DO NOTHING",
            soci::use(name), soci::use(fingerprint);
        std::string adopted;
        sql << "SELECT value FROM cluster_settings WHERE name = :name",
            soci::use(name), soci::into(adopted);
        return adopted;
    });
}

ExecutorEntry SociExecutorDirectory::ensure(const std::string& sessionId,
                                            const std::string& nonce) {
    const long long now = unixMillisNow();
    database_.withSession([&](soci::session& sql) {
        sql << "INSERT INTO worker_executors (session_id, token_nonce, updated_at_ms)"
               " VALUES (:sid, :nonce, :now) ON CONFLICT (session_id) DO NOTHING",
            soci::use(sessionId), soci::use(nonce), soci::use(now);
    });
    auto entry = find(sessionId);
    if (!entry) {
        throw ProblemError({"store_unavailable",
                            "the executor entry of worker " + sessionId + " vanished as it was made",
                            "retry; another replica removed the worker meanwhile"});
    }
    return *entry;
}

std::optional<ExecutorEntry> SociExecutorDirectory::find(const std::string& sessionId) {
    return database_.withSession([&](soci::session& sql) -> std::optional<ExecutorEntry> {
        ExecutorEntry entry;
        sql << "SELECT token_nonce, address FROM worker_executors WHERE session_id = :sid",
            soci::use(sessionId), soci::into(entry.nonce), soci::into(entry.address);
        if (!sql.got_data()) return std::nullopt;
        return entry;
    });
}

void SociExecutorDirectory::erase(const std::string& sessionId) {
    database_.withSession([&](soci::session& sql) {
        sql << "DELETE FROM worker_executors WHERE session_id = :sid", soci::use(sessionId);
    });
}

void SociExecutorDirectory::expectBootstrap(const std::string& sessionId,
                                            const TokenDigest& digest) {
    const std::string digestText = digestHex(digest);
    const long long now = unixMillisNow();
    database_.withSession([&](soci::session& sql) {
        sql << "UPDATE worker_executors SET bootstrap_digest = :digest, address = '',"
               " updated_at_ms = :now WHERE session_id = :sid",
            soci::use(digestText), soci::use(now), soci::use(sessionId);
    });
}

void SociExecutorDirectory::forget(const std::string& sessionId) {
    const long long now = unixMillisNow();
    database_.withSession([&](soci::session& sql) {
        sql << "UPDATE worker_executors SET bootstrap_digest = NULL, address = '',"
               " updated_at_ms = :now WHERE session_id = :sid",
            soci::use(now), soci::use(sessionId);
    });
}

std::optional<std::string> SociExecutorDirectory::redeem(const TokenDigest& digest,
                                                         const std::string& address) {
    const std::string digestText = digestHex(digest);
    const long long now = unixMillisNow();
    return database_.withSession([&](soci::session& sql) -> std::optional<std::string> {
        std::string sessionId;
        // Used up and recorded in one statement: the digest is matched once, whoever asks.
        sql << "UPDATE worker_executors SET bootstrap_digest = NULL, address = :address,"
               " updated_at_ms = :now WHERE bootstrap_digest = :digest RETURNING session_id",
            soci::use(address), soci::use(now), soci::use(digestText), soci::into(sessionId);
        if (!sql.got_data()) return std::nullopt;
        return sessionId;
    });
}

}  // namespace aw
