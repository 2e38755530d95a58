// The durable queue, straight on SociRunStore. Prints figures; asserts nothing.
//
// 1. SQLite claim at a backlog of B queued runs (10 per session, enqueued round-robin
//    over the sessions), B = 10, 1,000, 10,000, 100,000; then, --ops times: claim one
//    entry, finish it, enqueue one more (untimed) so the backlog stays B. Claim latency =
//    the claim call; claim+finish/s = ops / time in claim and finish. Then the claim's
//    EXPLAIN QUERY PLAN.
// 2. PostgreSQL throughput at 1 and 4 threads, each with its own pooled connection: enqueue
//    --runs no-op runs (one session each, as jobs without a queue name), then claim one +
//    complete it until the queue is empty. Printed as enqueue, claim+complete and
//    enqueue+claim+complete (runs / both phases' time) runs/s.
// 3. PostgreSQL round trips per run: enqueue, claim and complete of 100 runs on one
//    connection, counted from libpq's protocol trace (a Sync or a Query is one round trip),
//    and how often the prepared claim was planned. Then the claim at backlogs of 10, 1,000
//    and 10,000, as in 1.
//
//   build/tests/aw_queue_bench [--ops N] [--runs N] [--pg-url URL] [--skip-sqlite]
//                              [--skip-postgres] [--sql DIR]
// --pg-url: a PostgreSQL database the bench may fill and empty (it truncates the agent
//   worker's tables before each phase), e.g. on the cluster a peer runs on. Without it the
//   bench starts a throwaway cluster (fsync=off, unix socket).
// --sql: the migrations to apply (default: the source tree's sql/), e.g. an older schema
//   for a binary built from an older commit.
#include <dlfcn.h>
#include <soci/postgresql/soci-postgresql.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "db/database.h"
#include "db/migrator.h"
#include "db/soci_run_store.h"
#include "support/postgres_cluster.h"
#include "support/temp_dir.h"

namespace aw {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::int64_t kStartMs = 1'700'000'000'000;
constexpr std::int64_t kLeaseMs = 60'000;
constexpr std::size_t kPerSession = 10;

double millis(Clock::duration d) {
    return std::chrono::duration<double, std::milli>(d).count();
}
double seconds(Clock::duration d) {
    return std::chrono::duration<double>(d).count();
}

NewRun noOpRun(const std::string& runId, const std::string& sessionId, std::int64_t nowMs) {
    NewRun run;
    run.runId = runId;
    run.sessionId = sessionId;
    run.workspaceS3Prefix = "s3://bench/" + sessionId + "/";
    run.provider = "claude-code";
    run.prompt = "x";
    run.nowMs = nowMs;
    return run;
}

// ----- 1. SQLite claim at a backlog -----------------------------------------------------

struct Figures {
    double p50Ms = 0, p99Ms = 0, perSecond = 0;
};

//! Fills a backlog in one transaction with the rows createRun writes for the queue (the
//! worker, the run, the entry): 100,000 createRun calls would take minutes to set up.
void fillBacklog(Database& db, std::size_t size, std::size_t sessions) {
    db.withSession([&](soci::session& sql) {
        WriteTransaction transaction(sql, db.dialect());
        std::string runId, sessionId;
        long long now = kStartMs;
        soci::statement worker =
            (sql.prepare << "INSERT INTO session_workers (session_id, tenant_id,"
                            " status, desired_status, version, runtime,"
                            " workspace_s3_prefix, state_changed_at_ms,"
                            " created_at_ms, updated_at_ms) VALUES (:sid,"
                            " 'default', 'pending', 'running', 0, 'local',"
                            " 's3://bench/', 0, 0, 0)",
             soci::use(sessionId));
        soci::statement run = (sql.prepare << "INSERT INTO runs (run_id, session_id, provider,"
                                              " prompt, approval_mode, status, attempts, usage,"
                                              " created_at_ms) VALUES (:rid, :sid, 'claude-code',"
                                              " 'x', 'auto', 'queued', 0, '{}', :now)",
                               soci::use(runId), soci::use(sessionId), soci::use(now));
        soci::statement entry =
            (sql.prepare << "INSERT INTO run_queue (enqueue_key, run_id, session_id, status,"
                            " attempts, max_attempts, available_at_ms, lock_expires_at_ms,"
                            " created_at_ms, updated_at_ms) VALUES (:key, :rid, :sid, 'queued', 0,"
                            " 3, :available, 0, :created, :updated)",
             soci::use(runId), soci::use(runId), soci::use(sessionId), soci::use(now),
             soci::use(now), soci::use(now));
        for (std::size_t i = 0; i < size; ++i) {
            runId = "run-" + std::to_string(i);
            sessionId = "session-" + std::to_string(i % sessions);
            now = kStartMs + static_cast<long long>(i);
            if (i < sessions) worker.execute(true);
            run.execute(true);
            entry.execute(true);
        }
        transaction.commit();
    });
}

//! Claim latency at a backlog of `backlogSize` on `db` (migrated, empty).
Figures measureBacklog(Database& db, std::size_t backlogSize, int ops) {
    SociRunStore store(db);
    const std::size_t sessions = std::max<std::size_t>(1, backlogSize / kPerSession);
    fillBacklog(db, backlogSize, sessions);
    std::size_t next = backlogSize;
    const auto now = [&] { return kStartMs + static_cast<std::int64_t>(next); };

    std::vector<double> claims;
    Clock::duration busy{};
    for (int i = 0; i < ops; ++i) {
        const auto start = Clock::now();
        const auto claimed = store.claim("bench", now(), kLeaseMs, 1);
        const auto afterClaim = Clock::now();
        if (claimed.size() != 1) {
            std::fprintf(stderr, "claim %d at backlog %zu took %zu entries\n", i, backlogSize,
                         claimed.size());
            return {};
        }
        store.finish(claimed.front().queueId, "bench", QueueStatus::Succeeded, "", now());
        busy += Clock::now() - start;
        claims.push_back(millis(afterClaim - start));
        store.createRun(noOpRun("run-" + std::to_string(next),
                                "session-" + std::to_string(next % sessions), now()));
        ++next;
    }
    std::sort(claims.begin(), claims.end());
    const auto at = [&](double q) {
        return claims[static_cast<std::size_t>(q * static_cast<double>(claims.size() - 1))];
    };
    return {at(0.5), at(0.99), ops / seconds(busy)};
}

void printBacklogRow(const char* dialect, std::size_t backlog, const Figures& f) {
    std::printf("%-11s %8zu %13.3f %13.3f %15.0f\n", dialect, backlog, f.p50Ms, f.p99Ms,
                f.perSecond);
    std::fflush(stdout);
}

void printClaimPlan(const std::string& url, const std::filesystem::path& sqlDir) {
    Database db(parseDatabaseUrl(url), 1, std::chrono::seconds(30));
    applyMigrations(db, sqlDir);
    db.withSession([](soci::session& sql) {
        soci::rowset<soci::row> plan =
            (sql.prepare << "EXPLAIN QUERY PLAN " + SociRunStore::claimStatement(Dialect::Sqlite));
        std::printf("sqlite claim plan (EXPLAIN QUERY PLAN):\n");
        for (const auto& step : plan) std::printf("  %s\n", step.get<std::string>(3).c_str());
    });
}

void sqliteSection(const std::filesystem::path& sqlDir, int ops) {
    std::printf(
        "sqlite claim at a backlog: %zu queued per session, claim 1 + finish + enqueue 1, %d ops\n",
        kPerSession, ops);
    std::printf("%-11s %8s %13s %13s %15s\n", "dialect", "backlog", "claim p50 ms", "claim p99 ms",
                "claim+finish/s");
    for (const std::size_t backlog : {10, 1000, 10'000, 100'000}) {
        test::TempDir dir("aw-queue-bench");
        Database db(parseDatabaseUrl("sqlite://" + (dir.path() / "aw.db").string()), 2,
                    std::chrono::seconds(30));
        applyMigrations(db, sqlDir);
        printBacklogRow("sqlite", backlog, measureBacklog(db, backlog, ops));
    }
    test::TempDir dir("aw-queue-bench");
    printClaimPlan("sqlite://" + (dir.path() / "aw.db").string(), sqlDir);
}

// ----- 2. PostgreSQL throughput ---------------------------------------------------------

//! Gives each phase an empty database: a new one on the bench's own cluster, or the
//! caller's with the agent worker's tables emptied.
class PostgresTarget {
public:
    PostgresTarget(std::string url, std::filesystem::path sqlDir)
        : url_(std::move(url)), sqlDir_(std::move(sqlDir)) {
        if (url_.empty()) {
            cluster_ = std::make_unique<test::PostgresCluster>();
        } else {
            // The migrations' and TRUNCATE's notices are no figures.
            url_ += (url_.find('?') == std::string::npos ? "?" : "&");
            url_ += "options=-c%20client_min_messages%3Dwarning";
        }
    }

    std::unique_ptr<Database> fresh(int poolSize) {
        std::string url = url_;
        if (cluster_) {
            const std::string name = "queuebench" + std::to_string(++databases_);
            cluster_->createDatabase(name);
            url = cluster_->url(name);
        }
        auto db =
            std::make_unique<Database>(parseDatabaseUrl(url), poolSize, std::chrono::seconds(30));
        applyMigrations(*db, sqlDir_);
        if (!cluster_) {
            db->withSession([](soci::session& sql) {
                // The event log and raw output are named: they have no foreign key to runs
                // (migration 005), so CASCADE alone leaves them.
                sql << "TRUNCATE runs, session_workers, run_queue, run_queue_done, run_events,"
                       " raw_output CASCADE";
            });
        }
        return db;
    }

private:
    std::string url_;
    std::filesystem::path sqlDir_;
    std::unique_ptr<test::PostgresCluster> cluster_;
    int databases_ = 0;
};

//! Runs `work(thread)` on `threads` threads started together; the wall time.
Clock::duration onThreads(int threads, const std::function<void(int)>& work) {
    std::atomic<int> ready{0};
    std::vector<std::thread> pool;
    Clock::time_point start;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            if (ready.fetch_add(1) + 1 == threads) start = Clock::now();
            while (ready.load() < threads) std::this_thread::yield();
            work(t);
        });
    }
    for (auto& thread : pool) thread.join();
    return Clock::now() - start;
}

void throughput(PostgresTarget& target, int threads, int runs) {
    const auto db = target.fresh(threads);
    SociRunStore store(*db);
    const auto enqueueTime = onThreads(threads, [&](int t) {
        for (int i = t; i < runs; i += threads) {
            const std::string id = std::to_string(i);
            store.createRun(noOpRun("run-" + id, "session-" + id, kStartMs));
        }
    });
    std::atomic<int> done{0};
    const auto processTime = onThreads(threads, [&](int t) {
        const std::string holder = "bench-" + std::to_string(t);
        for (;;) {
            const auto claimed = store.claim(holder, kStartMs + 1, kLeaseMs, 1);
            if (claimed.empty()) return;  // every run is finished or held by another thread
            store.finish(claimed.front().queueId, holder, QueueStatus::Succeeded, "", kStartMs + 2);
            done.fetch_add(1);
        }
    });
    if (done.load() != runs)
        std::printf("  (only %d of %d runs were claimed)\n", done.load(), runs);
    std::printf("postgres enqueue threads=%d: %.0f runs/s\n", threads, runs / seconds(enqueueTime));
    std::printf("postgres claim+complete threads=%d: %.0f runs/s\n", threads,
                runs / seconds(processTime));
    std::printf("postgres enqueue+claim+complete threads=%d: %.0f runs/s\n", threads,
                runs / seconds(enqueueTime + processTime));
    std::fflush(stdout);
}

//! PostgreSQL claim latency at backlogs, as the SQLite table (no ANALYZE in between: the
//! claim must not depend on statistics).
void postgresBacklogs(PostgresTarget& target, int ops) {
    std::printf("%-11s %8s %13s %13s %15s\n", "dialect", "backlog", "claim p50 ms", "claim p99 ms",
                "claim+finish/s");
    for (const std::size_t backlog : {10, 1000, 10'000}) {
        const auto db = target.fresh(2);
        printBacklogRow("postgresql", backlog, measureBacklog(*db, backlog, ops));
    }
}

// ----- 3. PostgreSQL round trips --------------------------------------------------------

//! Counts the round trips of one pooled connection with libpq's protocol trace. libpq is
//! loaded with SOCI's PostgreSQL backend; its trace functions are looked up, not linked.
class RoundTrips {
public:
    explicit RoundTrips(Database& db) : db_(db) {
        symbol("PQtrace", trace_);
        symbol("PQuntrace", untrace_);
        symbol("PQsetTraceFlags", flags_);
    }

    bool available() const { return trace_ && untrace_ && flags_; }

    //! The round trips `work` makes on the pool's one connection.
    long count(const std::function<void()>& work) {
        test::TempDir dir("aw-queue-trace");
        const auto path = dir.path() / "trace";
        FILE* file = std::fopen(path.c_str(), "w");
        if (!file) return -1;
        PGconn* conn = connection();
        trace_(conn, file);
        flags_(conn, 1);  // PQTRACE_SUPPRESS_TIMESTAMPS (PQtrace resets the flags)
        work();
        untrace_(connection());
        std::fclose(file);
        // Lines read "F <length> <message> ...": F is a message the client sent.
        std::ifstream lines(path);
        long trips = 0;
        for (std::string line; std::getline(lines, line);) {
            if (line.rfind("F\t", 0) != 0) continue;
            if (line.find("\tSync") != std::string::npos ||
                line.find("\tQuery") != std::string::npos)
                ++trips;
        }
        return trips;
    }

private:
    template <typename Function>
    static void symbol(const char* name, Function& function) {
        void* found = dlsym(RTLD_DEFAULT, name);
        std::memcpy(&function, &found, sizeof function);  // object to function pointer
    }

    PGconn* connection() {
        return db_.withSession([](soci::session& sql) {
            return static_cast<soci::postgresql_session_backend*>(sql.get_backend())->conn_;
        });
    }

    Database& db_;
    void (*trace_)(PGconn*, FILE*) = nullptr;
    void (*untrace_)(PGconn*) = nullptr;
    void (*flags_)(PGconn*, int) = nullptr;
};

void roundTrips(PostgresTarget& target) {
    constexpr int kRuns = 100;
    const auto db = target.fresh(1);
    SociRunStore store(*db);
    RoundTrips counter(*db);
    if (!counter.available()) {
        std::printf("postgres round trips: libpq has no PQtrace\n");
        return;
    }
    std::vector<std::int64_t> queueIds;
    const long enqueue = counter.count([&] {
        for (int i = 0; i < kRuns; ++i) {
            const std::string id = std::to_string(i);
            store.createRun(noOpRun("run-" + id, "session-" + id, kStartMs));
        }
    });
    const long claim = counter.count([&] {
        for (int i = 0; i < kRuns; ++i) {
            for (const auto& entry : store.claim("bench", kStartMs + 1, kLeaseMs, 1))
                queueIds.push_back(entry.queueId);
        }
    });
    const long complete = counter.count([&] {
        for (const auto queueId : queueIds)
            store.finish(queueId, "bench", QueueStatus::Succeeded, "", kStartMs + 2);
    });
    std::printf("postgres round trips per run: enqueue %.1f, claim %.1f, complete %.1f\n",
                static_cast<double>(enqueue) / kRuns, static_cast<double>(claim) / kRuns,
                static_cast<double>(complete) / kRuns);
    // Whether PostgreSQL planned the claim once (a generic plan) or at every execution.
    db->withSession([](soci::session& sql) {
        long long generic = 0, custom = 0;
        sql << "SELECT COALESCE(SUM(generic_plans), 0), COALESCE(SUM(custom_plans), 0) FROM"
               " pg_prepared_statements WHERE starts_with(statement, 'WITH next AS')",
            soci::into(generic), soci::into(custom);
        std::printf("postgres claim plans: %lld generic, %lld custom\n", generic, custom);
    });
}

}  // namespace
}  // namespace aw

int main(int argc, char** argv) {
    using namespace aw;
    int ops = 500;
    int runs = 5000;
    bool sqlite = true;
    bool postgres = true;
    std::string pgUrl;
    std::filesystem::path sqlDir = std::filesystem::path(AW_SOURCE_DIR) / "sql";
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--ops" && i + 1 < argc) {
            ops = std::max(1, std::stoi(argv[++i]));
        } else if (arg == "--runs" && i + 1 < argc) {
            runs = std::max(1, std::stoi(argv[++i]));
        } else if (arg == "--pg-url" && i + 1 < argc) {
            pgUrl = argv[++i];
        } else if (arg == "--sql" && i + 1 < argc) {
            sqlDir = argv[++i];
        } else if (arg == "--skip-sqlite") {
            sqlite = false;
        } else if (arg == "--skip-postgres") {
            postgres = false;
        } else {
            std::fprintf(stderr,
                         "usage: %s [--ops N] [--runs N] [--pg-url URL] [--skip-sqlite] "
                         "[--skip-postgres] [--sql DIR]\n"
                         "  --pg-url: a database the bench may fill and empty (it truncates "
                         "the agent worker's tables)\n",
                         argv[0]);
            return 2;
        }
    }
    if (sqlite) sqliteSection(sqlDir, ops);
    if (!postgres) return 0;
    if (pgUrl.empty()) {
        if (const auto reason = test::PostgresCluster::unavailableReason(); !reason.empty()) {
            std::printf("postgresql skipped: %s\n", reason.c_str());
            return 0;
        }
    }
    PostgresTarget target(pgUrl, sqlDir);
    std::printf("postgres: %d no-op runs, one session each, claim 1 + complete per call%s\n", runs,
                pgUrl.empty() ? " (throwaway cluster, fsync=off)" : "");
    for (const int threads : {1, 4}) throughput(target, threads, runs);
    roundTrips(target);
    postgresBacklogs(target, ops);
    return 0;
}
