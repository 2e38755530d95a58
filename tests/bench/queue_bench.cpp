// The durable queue's claim at a backlog. Prints a table; asserts nothing.
// Straight on SociRunStore (SQLite file, and a throwaway PostgreSQL cluster): enqueue a
// backlog of B runs, 10 per session, enqueued round-robin over the sessions; then, --ops
// times: claim one entry, finish it, enqueue one more (untimed) so the backlog stays B.
// Claim latency = the claim call; claim+finish/s = ops / time in claim and finish.
//   build/tests/aw_queue_bench [--ops N] [--skip-postgres] [--sql DIR]
// --sql: the migrations to apply (default: the source tree's sql/), e.g. an older schema
// for a binary built from an older commit.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
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

struct Figures {
    double p50Ms = 0, p99Ms = 0, perSecond = 0;
};

double millis(Clock::duration d) {
    return std::chrono::duration<double, std::milli>(d).count();
}

class Backlog {
public:
    Backlog(SociRunStore& store, std::size_t size)
        : store_(store), sessions_(std::max<std::size_t>(1, size / kPerSession)) {
        for (std::size_t i = 0; i < size; ++i) enqueue();
    }

    void enqueue() {
        NewRun run;
        run.runId = "run-" + std::to_string(next_);
        run.sessionId = "session-" + std::to_string(next_ % sessions_);
        run.workspaceS3Prefix = "s3://bench/" + run.sessionId + "/";
        run.provider = "claude-code";
        run.prompt = "x";
        run.nowMs = now();
        ++next_;
        store_.createRun(run);
    }

    std::int64_t now() const { return kStartMs + static_cast<std::int64_t>(next_); }

private:
    SociRunStore& store_;
    std::size_t sessions_;
    std::size_t next_ = 0;
};

Figures measure(const std::string& url, const std::filesystem::path& sqlDir,
                std::size_t backlogSize, int ops) {
    Database db(parseDatabaseUrl(url), 2, std::chrono::seconds(30));
    applyMigrations(db, sqlDir);
    SociRunStore store(db);
    Backlog backlog(store, backlogSize);

    std::vector<double> claims;
    Clock::duration busy{};
    for (int i = 0; i < ops; ++i) {
        const auto start = Clock::now();
        const auto claimed = store.claim("bench", backlog.now(), kLeaseMs, 1);
        const auto afterClaim = Clock::now();
        if (claimed.size() != 1) {
            std::fprintf(stderr, "claim %d at backlog %zu took %zu entries\n", i, backlogSize,
                         claimed.size());
            return {};
        }
        store.finish(claimed.front().queueId, "bench", QueueStatus::Succeeded, "", backlog.now());
        busy += Clock::now() - start;
        claims.push_back(millis(afterClaim - start));
        backlog.enqueue();
    }
    std::sort(claims.begin(), claims.end());
    const auto at = [&](double q) {
        return claims[static_cast<std::size_t>(q * (claims.size() - 1))];
    };
    return {at(0.5), at(0.99), ops / std::chrono::duration<double>(busy).count()};
}

void row(const char* dialect, std::size_t backlog, const Figures& f) {
    std::printf("%-11s %8zu %13.3f %13.3f %15.0f\n", dialect, backlog, f.p50Ms, f.p99Ms,
                f.perSecond);
    std::fflush(stdout);
}

}  // namespace
}  // namespace aw

int main(int argc, char** argv) {
    using namespace aw;
    int ops = 500;
    bool postgres = true;
    std::filesystem::path sqlDir = std::filesystem::path(AW_SOURCE_DIR) / "sql";
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--ops" && i + 1 < argc) {
            ops = std::max(1, std::stoi(argv[++i]));
        } else if (arg == "--sql" && i + 1 < argc) {
            sqlDir = argv[++i];
        } else if (arg == "--skip-postgres") {
            postgres = false;
        } else {
            std::fprintf(stderr, "usage: %s [--ops N] [--skip-postgres] [--sql DIR]\n", argv[0]);
            return 2;
        }
    }
    const std::size_t backlogs[] = {10, 1000, 6000};
    std::printf(
        "queue claim at a backlog: %zu queued per session, claim 1 + finish + enqueue 1, %d ops\n",
        kPerSession, ops);
    std::printf("%-11s %8s %13s %13s %15s\n", "dialect", "backlog", "claim p50 ms", "claim p99 ms",
                "claim+finish/s");
    for (const auto backlog : backlogs) {
        test::TempDir dir("aw-queue-bench");
        row("sqlite", backlog,
            measure("sqlite://" + (dir.path() / "aw.db").string(), sqlDir, backlog, ops));
    }
    if (!postgres) return 0;
    if (const auto reason = test::PostgresCluster::unavailableReason(); !reason.empty()) {
        std::printf("postgresql  skipped: %s\n", reason.c_str());
        return 0;
    }
    test::PostgresCluster cluster;
    int databases = 0;
    for (const auto backlog : backlogs) {
        const std::string name = "queuebench" + std::to_string(++databases);
        cluster.createDatabase(name);
        row("postgresql", backlog, measure(cluster.url(name), sqlDir, backlog, ops));
    }
    return 0;
}
