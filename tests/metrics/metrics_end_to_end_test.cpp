// GET /metrics of a real agent-host (a child process with its provider-host and a local
// worker's executor): promtool accepts every scrape, the counters move as a run proceeds
// (a fake Claude Code CLI printing a recorded stream, followed over SSE; on SQLite and on a
// throwaway PostgreSQL, whose queries the state gauges are), and only an admin
// or metrics token may scrape.
#include <gtest/gtest.h>

#include <fstream>

#include "metrics/promtool.h"
#include "support/agent_host_harness.h"
#include "support/fake_cli.h"
#include "support/plugins.h"
#include "support/sse_client.h"
#include "support/temp_dir.h"

namespace aw {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;
using test::AgentHost;
using test::HostSpec;
using test::parseSamples;
using test::promtoolCheck;
namespace fs = std::filesystem;

class MetricsEndToEnd : public ::testing::Test {
protected:
    fs::path dataDir() const { return root_ / "data"; }
    fs::path pluginsDir() const { return root_ / "plugins"; }
    fs::path releaseDir() const { return root_ / "release"; }

    void SetUp() override {
        for (const auto& dir : {dataDir(), pluginsDir(), releaseDir(), root_ / "bin"}) {
            fs::create_directories(dir);
        }
    }

    //! A host serving claude-code whose CLI prints claude-basic.jsonl once release/<session>
    //! exists (its working directory is the worker's workspace, named after the session).
    HostSpec claudeHost(std::map<std::string, std::string> extra = {}) {
        test::dropPlugin(test::shippedPlugin("claude-code"), pluginsDir(), "claude-code.so");
        const auto cli = test::writeScript(
            root_ / "bin" / "claude",
            "release=" + test::shellQuote(releaseDir().string()) +
                "/$(basename \"$(dirname \"$PWD\")\")\n"
                "i=0\n"
                "while [ ! -e \"$release\" ] && [ $i -lt 900 ]; do sleep 0.1; i=$((i+1)); done\n"
                "cat " +
                test::shellQuote(test::fixturePath("claude-basic.jsonl").string()) + "\n");
        HostSpec spec{dataDir(), pluginsDir(), db_, test::quickHostEnv()};
        spec.env["AW_RUNTIME_LOCAL_READ_ONLY_PATHS"] = releaseDir().string();
        spec.env["AW_PROVIDERS"] = Json{{"claude-code", {{"binary", cli.string()}}}}.dump();
        for (auto& [name, value] : extra) spec.env[name] = value;
        return spec;
    }

    //! GET /metrics (with `token` when given); fails the test unless promtool accepts it.
    static std::map<std::string, double> scrape(const AgentHost& host,
                                                const std::string& token = "") {
        std::map<std::string, std::string> headers;
        if (!token.empty()) headers["Authorization"] = "Bearer " + token;
        const auto answer = test::httpGet(host.port(), "/metrics", headers);
        EXPECT_EQ(answer.status, 200) << answer.body;
        const auto verdict = promtoolCheck(answer.body);
        EXPECT_EQ(verdict.exitCode, 0) << verdict.output << "\n" << answer.body;
        EXPECT_EQ(verdict.output, "") << "promtool lint findings:\n" << answer.body;
        return parseSamples(answer.body);
    }

    static double valueOf(const std::map<std::string, double>& samples, const std::string& series) {
        const auto it = samples.find(series);
        return it == samples.end() ? 0 : it->second;
    }

    test::TempDir root_{"aw-metrics"};
    std::string db_;  //!< --db: "" for SQLite in the data dir
};

//! The same on each database: the state gauges are its queries.
class MetricsEndToEndDb : public MetricsEndToEnd, public ::testing::WithParamInterface<test::Db> {
protected:
    void SetUp() override {
        MetricsEndToEnd::SetUp();
        db_ = test::databaseUrlFor(GetParam(), "metrics");
    }
};

TEST_P(MetricsEndToEndDb, CountersMoveAsARunProceeds) {
    AgentHost host(claudeHost({{"AW_LIFECYCLE_IDLE_TIMEOUT_S", "0"}}));
    host.waitProviderHealthy("claude-code");
    const auto before = scrape(host);
    EXPECT_EQ(valueOf(before, R"(agent_worker_providers{status="healthy"})"), 1);
    EXPECT_EQ(valueOf(before, R"(agent_worker_provider_restarts_total{provider="claude-code"})"),
              0);
    EXPECT_EQ(before.count(R"(agent_worker_provider_in_flight_requests{provider="claude-code"})"),
              1u);

    const std::string sid = "metrics-session";
    const auto rid = host.sendMessage(sid, "claude-code", "hello");
    host.waitRunStatus(rid, {"running"}, 60s);
    const auto running = scrape(host);
    EXPECT_EQ(valueOf(running, R"(agent_worker_runs{status="running"})"), 1);
    EXPECT_EQ(valueOf(running, R"(agent_worker_queue_entries{status="claimed"})"), 1);
    EXPECT_EQ(valueOf(running, R"(agent_worker_workers{state="running"})"), 1);
    EXPECT_EQ(valueOf(running, "agent_worker_queue_oldest_ready_age_seconds"), 0);

    // Followed live: the CLI prints only once the stream is open.
    test::SseClient stream(host.port(), rid);
    ASSERT_EQ(stream.status(), 200) << stream.body();
    std::ofstream(releaseDir() / sid) << "go\n";
    const auto frames = stream.readToEnd();
    const Json run = host.waitRunFinished(rid, 60s);
    ASSERT_EQ(run.value("status", ""), "completed") << host.describeRun(rid);
    ASSERT_FALSE(frames.empty());

    // A redelivered record: acknowledged, stored once, counted as a duplicate.
    const auto lines = test::fixtureLines("claude-basic.jsonl");
    const auto again = host.callback(sid, rid,
                                     Json::array({{{"event_id", rid + "/stdout/1"},
                                                   {"run_id", rid},
                                                   {"stream", "stdout"},
                                                   {"seq", 1},
                                                   {"line", lines.at(0)}}}));
    ASSERT_EQ(again.status, 200) << again.body;
    ASSERT_EQ(again.json().value("new", -1), 0) << again.body;

    // The idle worker syncs a changed file and stops.
    std::ofstream(host.workspace(sid) / "changed.txt") << "changed after the run\n";
    const auto idle = host.post("/v1/maintenance/idle-stop");
    ASSERT_EQ(idle.status, 200) << idle.body;
    ASSERT_EQ(idle.json().value("stopped", -1), 1) << idle.body;

    const auto after = scrape(host);
    std::string syncs;  // for failure messages
    for (const auto& [series, value] : after) {
        if (series.find("sync") != std::string::npos)
            syncs += series + " " + std::to_string(value) + "\n";
    }
    const auto moved = [&](const std::string& series) {
        return valueOf(after, series) - valueOf(before, series);
    };
    EXPECT_EQ(
        moved(
            R"(agent_worker_http_requests_total{route="/v1/sessions/{sid}/messages",method="POST",status="202"})"),
        1);
    EXPECT_GE(
        moved(
            R"(agent_worker_http_requests_total{route="/v1/runs/{rid}/events",method="GET",status="200"})"),
        1);
    EXPECT_GE(
        moved(
            R"(agent_worker_http_request_duration_seconds_count{route="/v1/runs/{rid}",method="GET"})"),
        1);
    EXPECT_EQ(valueOf(after, R"(agent_worker_runs{status="completed"})"), 1);
    EXPECT_EQ(valueOf(after, R"(agent_worker_runs{status="running"})"), 0);
    EXPECT_EQ(valueOf(after, R"(agent_worker_workers{state="stopped"})"), 1);
    // The executor's batches and ours.
    EXPECT_GE(moved(R"(agent_worker_executor_callback_batches_total{outcome="admitted"})"), 2);
    EXPECT_GE(moved("agent_worker_executor_callback_records_total"),
              static_cast<double>(lines.size()) + 1);
    EXPECT_EQ(moved("agent_worker_executor_callback_duplicate_records_total"), 1);
    EXPECT_GE(moved("agent_worker_event_store_latency_seconds_count"), 1);
    EXPECT_GE(moved("agent_worker_event_stream_latency_seconds_count"), 1);
    EXPECT_EQ(
        moved(
            R"(agent_worker_sync_duration_seconds_count{reason="idle_stop",outcome="succeeded"})"),
        1)
        << syncs << host.logTail();
    EXPECT_GT(moved(R"(agent_worker_sync_uploaded_bytes_total{reason="idle_stop"})"), 0);
    EXPECT_EQ(moved(R"(agent_worker_sync_failures_total{reason="idle_stop"})"), 0);

    // Routes are labelled by pattern: no session or run id became a label value.
    const auto text = test::httpGet(host.port(), "/metrics").body;
    EXPECT_EQ(text.find(sid), std::string::npos) << text;
    EXPECT_EQ(text.find(rid), std::string::npos) << text;
    EXPECT_NE(text.find("agent_worker_build_info{version=\""), std::string::npos) << text;
}

INSTANTIATE_TEST_SUITE_P(Db, MetricsEndToEndDb,
                         ::testing::Values(test::Db::Sqlite, test::Db::Postgres),
                         [](const ::testing::TestParamInfo<test::Db>& info) {
                             return std::string(test::toString(info.param));
                         });

TEST_F(MetricsEndToEnd, OnlyAnAdminOrMetricsTokenMayScrape) {
    HostSpec spec{dataDir(), pluginsDir(), "", test::quickHostEnv()};
    spec.env["AW_AUTH_CLIENT_TOKENS"] = "m-client";
    spec.env["AW_AUTH_ADMIN_TOKENS"] = "m-admin";
    spec.env["AW_AUTH_METRICS_TOKENS"] = "m-metrics";
    AgentHost host(spec);
    const auto get = [&](const std::string& path, const std::string& token) {
        std::map<std::string, std::string> headers;
        if (!token.empty()) headers["Authorization"] = "Bearer " + token;
        return test::httpGet(host.port(), path, headers);
    };
    EXPECT_EQ(get("/metrics", "").status, 401);
    EXPECT_EQ(get("/metrics", "no-such-token").status, 401);
    EXPECT_EQ(get("/metrics", test::kExecutorToken).status, 403);
    const auto client = get("/metrics", "m-client");
    EXPECT_EQ(client.status, 403);
    EXPECT_EQ(client.json()["error"].value("code", ""), "forbidden") << client.body;
    for (const char* token : {"m-admin", "m-metrics"}) {
        const auto answer = get("/metrics", token);
        EXPECT_EQ(answer.status, 200) << token << ": " << answer.body;
        const auto type = answer.headers.find("Content-Type");
        ASSERT_NE(type, answer.headers.end()) << token;
        EXPECT_EQ(type->second, "text/plain; version=0.0.4; charset=utf-8");
        EXPECT_NE(answer.body.find("# TYPE agent_worker_http_requests_total counter"),
                  std::string::npos);
    }
    // The metrics token opens nothing else.
    EXPECT_EQ(get("/admin/providers", "m-metrics").status, 403);
    EXPECT_EQ(get("/admin/config", "m-metrics").status, 403);
    EXPECT_EQ(get("/v1/sessions/s1", "m-metrics").status, 403);
    // Refusals are counted too, under the route they asked for.
    const auto samples = scrape(host, "m-metrics");
    EXPECT_EQ(
        valueOf(samples,
                R"(agent_worker_http_requests_total{route="/metrics",method="GET",status="401"})"),
        2);
    EXPECT_EQ(
        valueOf(samples,
                R"(agent_worker_http_requests_total{route="/metrics",method="GET",status="403"})"),
        2);
    // The configuration shows how many metrics tokens there are, never them.
    const auto config = get("/admin/config", "m-admin");
    EXPECT_EQ(config.json()["auth"].value("metrics_tokens", ""), "1 configured") << config.body;
    EXPECT_EQ(config.body.find("m-metrics"), std::string::npos);
}

}  // namespace
}  // namespace aw
