// agent-host supervising real agent-provider-host processes: misbehaving plugins fail on
// their own, the host and the other providers keep serving, /admin/providers says why.
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <future>
#include <thread>

#include "provider/provider_supervisor.h"
#include "support/agent_host_harness.h"
#include "support/http_client.h"
#include "support/plugins.h"
#include "support/run_events.h"

namespace aw::test {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

TEST(RestartDelay, TheFirstCrashRestartsAtOnceRepeatedOnesBackOffUpToTheCap) {
    const Backoff backoff{100ms, 1000ms, 0.2};
    // 0.5: no jitter.
    EXPECT_EQ(restartDelay(1, backoff, 0.5), 0ms);
    EXPECT_EQ(restartDelay(2, backoff, 0.5), 100ms);
    EXPECT_EQ(restartDelay(3, backoff, 0.5), 200ms);
    EXPECT_EQ(restartDelay(4, backoff, 0.5), 400ms);
    EXPECT_EQ(restartDelay(50, backoff, 0.5), 1000ms);
    // A first crash is never delayed by jitter either; later ones are jittered.
    EXPECT_EQ(restartDelay(1, backoff, 1.0), 0ms);
    EXPECT_EQ(restartDelay(2, backoff, 1.0), 120ms);
}

class ProviderSupervision : public ::testing::Test {
protected:
    //! Starts agent-host on the plugins in `plugins` (file name as dropped -> source).
    void startHost(const std::map<std::string, std::filesystem::path>& plugins,
                   std::map<std::string, std::string> env = {}) {
        std::filesystem::create_directories(pluginsDir());
        for (const auto& [as, source] : plugins) dropPlugin(source, pluginsDir(), as);
        auto launch = defaultLaunch((data_ / "data").string());
        setFlag(launch, "--plugins-dir", pluginsDir().string());
        // Tight limits so misbehaviour shows within a second or two.
        launch.env = {{"AW_SUPERVISOR_BACKOFF_INITIAL_MS", "50"},
                      {"AW_SUPERVISOR_BACKOFF_MAX_MS", "200"},
                      {"AW_SUPERVISOR_CRASH_LIMIT", "3"},
                      {"AW_SUPERVISOR_REQUEST_TIMEOUT_MS", "10000"},
                      {"AW_SUPERVISOR_HEARTBEAT_INTERVAL_MS", "200"},
                      {"AW_SUPERVISOR_HEARTBEAT_TIMEOUT_MS", "3000"},
                      {"AW_SUPERVISOR_START_TIMEOUT_MS", "5000"},
                      {"AW_SUPERVISOR_KILL_GRACE_MS", "500"}};
        for (auto& [key, value] : env) launch.env[key] = value;
        host_ = std::make_unique<AgentHost>(launch);
    }

    std::filesystem::path pluginsDir() const { return data_ / "plugins"; }

    Json providers() {
        const auto result = httpGet(host_->port(), "/admin/providers");
        EXPECT_EQ(result.status, 200) << result.body;
        return result.json()["providers"];
    }

    //! The row for plugin file `file` (e.g. "example.so"), or null.
    Json row(const std::string& file) {
        for (const auto& provider : providers()) {
            if (std::filesystem::path(provider["file"].get<std::string>()).filename() == file) {
                return provider;
            }
        }
        return Json();
    }

    //! Polls until `file`'s row satisfies `ready`; returns the last row seen.
    template <typename Predicate>
    Json waitFor(const std::string& file, Predicate ready, std::chrono::milliseconds timeout = 15s) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        Json last = row(file);
        while (!(last.is_object() && ready(last)) && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(50ms);
            last = row(file);
        }
        return last;
    }
    Json waitForStatus(const std::string& file, const std::string& status,
                       std::chrono::milliseconds timeout = 15s) {
        return waitFor(file, [&](const Json& r) { return r["status"] == status; }, timeout);
    }

    HttpResult replay(const std::string& provider, const Json& lines) {
        return httpRequest(host_->port(), {"POST", "/admin/providers/" + provider + "/replay",
                                           Json{{"lines", lines}}.dump()});
    }

    //! The example provider answers, with its echo, while something else misbehaves.
    void expectExampleAnswers() {
        const auto result = replay("example", {"still here"});
        ASSERT_EQ(result.status, 200) << result.body;
        const auto events = result.json()["events"];
        ASSERT_EQ(events.size(), 2u) << events.dump();
        EXPECT_EQ(events[0]["data"]["text"], "still here");
        EXPECT_EQ(events[1]["type"], "run.completed");
    }

    TempDir data_{"aw-prov"};
    std::unique_ptr<AgentHost> host_;
};

TEST_F(ProviderSupervision, TheShippedPluginsLoadAndDeclareTheirCapabilities) {
    startHost({{"claude-code.so", shippedPlugin("claude-code")},
               {"codex-cli.so", shippedPlugin("codex-cli")},
               {"opencode.so", shippedPlugin("opencode")}});
    for (const char* file : {"claude-code.so", "codex-cli.so", "opencode.so"}) {
        const auto provider = waitForStatus(file, "healthy");
        ASSERT_EQ(provider["status"], "healthy") << provider.dump();
        EXPECT_EQ(provider["abi"], "1.0");
        EXPECT_GT(provider["pid"].get<int>(), 0);
        EXPECT_TRUE(provider["loaded_at"].is_string()) << provider.dump();
        EXPECT_EQ(provider["restarts"], 0);
        const auto capabilities = provider["capabilities"];
        for (const char* always : {"run", "stream", "stop", "resume", "todo", "usage"}) {
            EXPECT_NE(std::find(capabilities.begin(), capabilities.end(), always), capabilities.end())
                << file << " lacks " << always;
        }
        const bool humanLoop =
            std::find(capabilities.begin(), capabilities.end(), "human_loop") != capabilities.end();
        EXPECT_EQ(humanLoop, std::string(file) == "claude-code.so") << file;
        EXPECT_TRUE(provider["facts"].contains("binary")) << provider.dump();
    }
}

TEST_F(ProviderSupervision, CrashWhileLoadingEndsDegradedAndOthersKeepServing) {
    startHost({{"example.so", testPlugin("example")},
               {"crash-on-load.so", testPlugin("crash-on-load")},
               {"crash-in-entry.so", testPlugin("crash-in-entry")}});
    for (const char* file : {"crash-on-load.so", "crash-in-entry.so"}) {
        const auto provider = waitForStatus(file, "degraded");
        ASSERT_EQ(provider["status"], "degraded") << provider.dump();
        EXPECT_EQ(provider["restarts"], 2) << "crash limit 3 = first start + 2 restarts";
        EXPECT_NE(provider["last_error"].get<std::string>().find("signal 11"), std::string::npos)
            << provider.dump();
        EXPECT_EQ(provider["error_code"], "crashed_on_load") << provider.dump();
        EXPECT_TRUE(provider["pid"].is_null());
    }
    const auto healthy = waitForStatus("example.so", "healthy");
    EXPECT_EQ(healthy["status"], "healthy");
    EXPECT_TRUE(healthy["error_code"].is_null()) << healthy.dump();
    expectExampleAnswers();
    EXPECT_EQ(httpGet(host_->port(), "/health").status, 200);
}

TEST_F(ProviderSupervision, RefusedPluginsAreFailedWithThePreciseReason) {
    startHost({{"wrong-abi-major.so", testPlugin("wrong-abi-major")},
               {"missing-entry.so", testPlugin("missing-entry")},
               {"invalid-name.so", testPlugin("invalid-name")},
               {"table-too-small.so", testPlugin("table-too-small")},
               {"newer-minor.so", testPlugin("newer-minor")},
               {"example.so", testPlugin("example")}});
    struct Refusal {
        std::string reason;  //!< in last_error, for people
        std::string code;    //!< error_code, for machines
    };
    const std::map<std::string, Refusal> refusals{
        {"wrong-abi-major.so", {"built for provider ABI 2.", "abi_mismatch"}},
        {"missing-entry.so", {"does not export aw_provider_entry", "missing_entry"}},
        {"invalid-name.so", {"its name 'Bad Name!' is not [a-z0-9-]+", "invalid_name"}},
        {"table-too-small.so", {"below the minimum", "table_too_small"}},
    };
    for (const auto& [file, refusal] : refusals) {
        const auto provider = waitForStatus(file, "failed");
        ASSERT_EQ(provider["status"], "failed") << provider.dump();
        EXPECT_NE(provider["last_error"].get<std::string>().find(refusal.reason), std::string::npos)
            << provider.dump();
        EXPECT_EQ(provider["error_code"], refusal.code) << provider.dump();
        EXPECT_EQ(provider["restarts"], 0) << "a refusal is not retried";
    }
    const auto newer = waitForStatus("newer-minor.so", "healthy");
    EXPECT_EQ(newer["status"], "healthy") << "a newer minor ABI must load";
    EXPECT_EQ(newer["abi"], "1.5");
    EXPECT_TRUE(newer["error_code"].is_null()) << newer.dump();
    expectExampleAnswers();
}

TEST_F(ProviderSupervision, AnAbiMismatchSaysToRebuildNotToRestart) {
    // A serving provider's file replaced by a build for another ABI: the name stays known,
    // so its callers learn why it does not serve and what helps.
    startHost({{"example.so", testPlugin("example")}});
    ASSERT_EQ(waitForStatus("example.so", "healthy")["status"], "healthy");
    dropPlugin(testPlugin("wrong-abi-major"), pluginsDir(), "example.so");
    const auto provider = waitFor("example.so", [](const Json& r) { return r["status"] == "failed"; });
    ASSERT_EQ(provider["error_code"], "abi_mismatch") << provider.dump();
    const std::string lastError = provider["last_error"];
    EXPECT_NE(lastError.find("rebuild the plugin against the current provider_abi.h"), std::string::npos)
        << lastError;
    EXPECT_NE(lastError.find("cannot fix it"), std::string::npos) << lastError;

    const auto refused = replay("example", {"x"});
    ASSERT_EQ(refused.status, 503) << refused.body;
    const std::string hint = refused.json()["error"]["hint"];
    EXPECT_NE(hint.find("rebuild the plugin against the current provider_abi.h"), std::string::npos) << hint;
    EXPECT_EQ(hint.find("POST /admin/providers"), std::string::npos) << "a restart cannot fix it: " << hint;

    // Indeed: a restart loads the same file, which stays refused for the same reason.
    ASSERT_EQ(httpRequest(host_->port(), {"POST", "/admin/providers/example/restart"}).status, 202);
    const auto again = waitFor("example.so", [](const Json& r) {
        return r["status"] == "failed" && r["restarts"].get<int>() >= 1;
    });
    EXPECT_EQ(again["status"], "failed") << again.dump();
    EXPECT_EQ(again["error_code"], "abi_mismatch") << again.dump();
}

TEST_F(ProviderSupervision, AbortInsideFeedFailsThatRequestAndTheProviderRestarts) {
    startHost({{"example.so", testPlugin("example")}, {"abort-in-feed.so", testPlugin("abort-in-feed")}});
    const auto before = waitForStatus("abort-in-feed.so", "healthy");
    ASSERT_EQ(before["status"], "healthy");
    const auto aborted = replay("abort-in-feed", {"boom"});
    EXPECT_EQ(aborted.status, 502) << aborted.body;
    EXPECT_EQ(aborted.json()["error"]["code"], "provider_crashed");
    EXPECT_NE(aborted.json()["error"]["message"].get<std::string>().find("signal 6"), std::string::npos)
        << aborted.body;
    const auto after = waitFor("abort-in-feed.so", [](const Json& r) {
        return r["status"] == "healthy" && r["restarts"].get<int>() >= 1;
    });
    EXPECT_EQ(after["status"], "healthy") << after.dump();
    EXPECT_NE(after["pid"], before["pid"]);
    expectExampleAnswers();
}

TEST_F(ProviderSupervision, AHungProviderIsKilledWithoutDelayingTheOthers) {
    startHost({{"example.so", testPlugin("example")}, {"hang-in-feed.so", testPlugin("hang-in-feed")}},
              {{"AW_SUPERVISOR_REQUEST_TIMEOUT_MS", "5000"}});
    ASSERT_EQ(waitForStatus("hang-in-feed.so", "healthy")["status"], "healthy");
    ASSERT_EQ(waitForStatus("example.so", "healthy")["status"], "healthy");

    auto hung = std::async(std::launch::async, [&] { return replay("hang-in-feed", {"forever"}); });
    ASSERT_GT(waitFor("hang-in-feed.so", [](const Json& r) { return r["in_flight"].get<int>() > 0; })
                  ["in_flight"].get<int>(),
              0);
    // While the hung request waits for its 5 s deadline, the example keeps answering.
    int answeredDuringHang = 0;
    while (hung.wait_for(0ms) != std::future_status::ready) {
        expectExampleAnswers();
        ++answeredDuringHang;
    }
    EXPECT_GE(answeredDuringHang, 3) << "example calls waited for the hung provider";
    const auto timedOut = hung.get();
    EXPECT_EQ(timedOut.status, 502) << timedOut.body;
    EXPECT_EQ(timedOut.json()["error"]["code"], "provider_timeout");
    const auto restarted = waitFor("hang-in-feed.so", [](const Json& r) {
        return r["status"] == "healthy" && r["restarts"].get<int>() >= 1;
    });
    EXPECT_EQ(restarted["status"], "healthy") << restarted.dump();
}

TEST_F(ProviderSupervision, AStoppedProcessMissesItsHeartbeatAndIsReplaced) {
    startHost({{"example.so", testPlugin("example")}});
    const auto before = waitForStatus("example.so", "healthy");
    ASSERT_EQ(before["status"], "healthy");
    ::kill(before["pid"].get<int>(), SIGSTOP);
    const auto after = waitFor("example.so", [&](const Json& r) {
        return r["status"] == "healthy" && r["pid"] != before["pid"];
    });
    EXPECT_EQ(after["status"], "healthy") << after.dump();
    EXPECT_GE(after["restarts"].get<int>(), 1);
    EXPECT_TRUE(after["error_code"].is_null()) << "serving again clears the code: " << after.dump();
    EXPECT_NE(host_->log().find("\"error_code\":\"hung\""), std::string::npos) << host_->log();
    expectExampleAnswers();
}

TEST_F(ProviderSupervision, AKilledProcessIsRestartedAndSoIsOneKilledAgain) {
    startHost({{"example.so", testPlugin("example")}});
    auto before = waitForStatus("example.so", "healthy");
    // The first crash restarts at once, the second (within the crash window) after a backoff;
    // below the crash limit (3) both end healthy.
    for (int restarts = 1; restarts <= 2; ++restarts) {
        ::kill(before["pid"].get<int>(), SIGKILL);
        const auto after = waitFor("example.so", [&](const Json& r) {
            return r["status"] == "healthy" && r["pid"] != before["pid"];
        });
        ASSERT_EQ(after["status"], "healthy") << after.dump();
        EXPECT_EQ(after["restarts"], restarts) << after.dump();
        before = after;
    }
    EXPECT_NE(host_->log().find("signal 9"), std::string::npos);
    EXPECT_NE(host_->log().find("\"error_code\":\"crashed\""), std::string::npos) << host_->log();
    expectExampleAnswers();
}

TEST_F(ProviderSupervision, GarbageAndFloodsAreErrorsOfThatProviderOnly) {
    startHost({{"example.so", testPlugin("example")},
               {"garbage-stdout.so", testPlugin("garbage-stdout")},
               {"flood-events.so", testPlugin("flood-events")}});
    ASSERT_EQ(waitForStatus("garbage-stdout.so", "healthy")["status"], "healthy");
    ASSERT_EQ(waitForStatus("flood-events.so", "healthy")["status"], "healthy");

    // printf() to stdout cannot corrupt the protocol: it lands in the host log, tagged.
    const auto garbage = replay("garbage-stdout", {"hello", "bad-json", "again"});
    ASSERT_EQ(garbage.status, 200) << garbage.body;
    const auto body = garbage.json();
    ASSERT_EQ(body["line_errors"].size(), 1u) << body.dump();
    EXPECT_EQ(body["line_errors"][0]["line"], 2);
    EXPECT_EQ(body["line_errors"][0]["error"]["code"], "invalid_plugin_output");
    ASSERT_EQ(body["events"].size(), 4u) << "two echoes, the line error, the terminal event";
    EXPECT_EQ(body["events"][1]["type"], "provider.line_error");
    EXPECT_EQ(body["events"][3]["data"]["line_errors"], 1);
    // Information lines are buffered: written within 100 ms.
    EXPECT_TRUE(eventually([&] { return host_->log().find("\"provider\":\"garbage-stdout\"") != std::string::npos; }))
        << host_->logTail();

    const auto flood = replay("flood-events", {"x"});
    ASSERT_EQ(flood.status, 200) << flood.body.substr(0, 500);
    EXPECT_EQ(flood.json()["line_errors"][0]["error"]["code"], "invalid_plugin_output");

    EXPECT_EQ(row("garbage-stdout.so")["restarts"], 0);
    EXPECT_EQ(row("flood-events.so")["status"], "healthy");
    expectExampleAnswers();
}

TEST_F(ProviderSupervision, TheAdminReplayRejectsLinesWhoseEventsBreakTheTable) {
    startHost({{"lying-events.so", testPlugin("lying-events")}});
    ASSERT_EQ(waitForStatus("lying-events.so", "healthy")["status"], "healthy");
    const auto result = replay("lying-events", {"fine", "an unknown type", "a host type"});
    ASSERT_EQ(result.status, 200) << result.body;
    const auto body = result.json();
    ASSERT_EQ(body["line_errors"].size(), 2u) << body.dump();
    EXPECT_EQ(body["line_errors"][0]["line"], 2);
    EXPECT_EQ(body["line_errors"][0]["error"]["code"], "invalid_plugin_output");
    EXPECT_NE(body["line_errors"][0]["error"]["message"].get<std::string>().find(
                  "unknown type 'message.shout'"),
              std::string::npos)
        << body.dump();
    EXPECT_EQ(body["line_errors"][1]["line"], 3);
    EXPECT_NE(body["line_errors"][1]["error"]["message"].get<std::string>().find(
                  "only the host emits run.queued"),
              std::string::npos)
        << body.dump();
    // The events a run would store: the good line, a line error per bad line, the end.
    std::vector<std::string> types;
    for (const auto& event : body["events"]) types.push_back(event["type"]);
    EXPECT_EQ(types, (std::vector<std::string>{"message.delta", "provider.line_error",
                                               "provider.line_error", "run.completed"}));
    EXPECT_EQ(body["events"][1]["data"]["raw_event_id"], "admin-replay/stdout/2");
    EXPECT_EQ(body["events"].back()["data"]["line_errors"], 2);
    EXPECT_EQ(body["stdin"], Json::array({"still answered\n"})) << "the CLI still gets its answer";
    EXPECT_EQ(row("lying-events.so")["status"], "healthy")
        << "a lie is the line's, not the provider's";
}

TEST_F(ProviderSupervision, TwoFilesClaimingOneNameLeaveTheFirstInCharge) {
    startHost({{"a-example.so", testPlugin("example")}, {"b-duplicate.so", testPlugin("duplicate-name")}});
    const auto second = waitForStatus("b-duplicate.so", "failed");
    ASSERT_EQ(second["status"], "failed") << second.dump();
    EXPECT_NE(second["last_error"].get<std::string>().find("already provided by"), std::string::npos);
    EXPECT_EQ(second["error_code"], "duplicate_name") << second.dump();
    EXPECT_EQ(waitForStatus("a-example.so", "healthy")["name"], "example");
    expectExampleAnswers();
}

TEST_F(ProviderSupervision, DroppedReplacedAndDeletedFilesAreFollowedWithoutARestart) {
    startHost({{"example.so", testPlugin("example")}});
    ASSERT_EQ(waitForStatus("example.so", "healthy")["status"], "healthy");

    dropPlugin(testPlugin("hotdrop-v1"), pluginsDir(), "hotdrop.so");
    const auto first = waitForStatus("hotdrop.so", "healthy");
    ASSERT_EQ(first["version"], "1.0.0") << first.dump();
    EXPECT_EQ(replay("hotdrop", {"v?"}).json()["events"][0]["data"]["version"], "1.0.0");

    dropPlugin(testPlugin("hotdrop-v2"), pluginsDir(), "hotdrop.so");
    const auto second = waitFor("hotdrop.so", [](const Json& r) {
        return r["status"] == "healthy" && r["version"] == "2.0.0";
    });
    ASSERT_EQ(second["version"], "2.0.0") << second.dump();
    EXPECT_NE(second["pid"], first["pid"]);
    EXPECT_EQ(replay("hotdrop", {"v?"}).json()["events"][0]["data"]["version"], "2.0.0");

    std::filesystem::remove(pluginsDir() / "hotdrop.so");
    const auto removed = waitForStatus("hotdrop.so", "removed");
    EXPECT_EQ(removed["status"], "removed");
    EXPECT_EQ(removed["error_code"], "file_removed") << removed.dump();
    EXPECT_EQ(replay("hotdrop", {"x"}).status, 404);
    expectExampleAnswers();
}

TEST_F(ProviderSupervision, InFlightWorkFinishesOnTheOldProcessWhenTheFileIsReplaced) {
    startHost({{"slow-feed.so", testPlugin("slow-feed")}});
    const auto before = waitForStatus("slow-feed.so", "healthy");
    ASSERT_EQ(before["status"], "healthy");
    auto slow = std::async(std::launch::async, [&] { return replay("slow-feed", {"1500"}); });
    // Once the old process is busy with it, replace the file under it.
    const auto busy = waitFor("slow-feed.so", [](const Json& r) { return r["in_flight"].get<int>() > 0; });
    ASSERT_GT(busy["in_flight"].get<int>(), 0) << busy.dump();
    dropPlugin(testPlugin("slow-feed"), pluginsDir(), "slow-feed.so");
    const auto after = waitFor("slow-feed.so", [&](const Json& r) {
        return r["status"] == "healthy" && r["pid"] != before["pid"];
    });
    EXPECT_NE(after["pid"], before["pid"]);
    const auto finished = slow.get();
    ASSERT_EQ(finished.status, 200) << finished.body;
    EXPECT_EQ(finished.json()["events"][0]["data"]["slept_ms"], 1500);
}

TEST_F(ProviderSupervision, WithoutTheWatchARescanPicksUpDroppedFiles) {
    startHost({}, {{"AW_SUPERVISOR_WATCH", "false"}});
    dropPlugin(testPlugin("example"), pluginsDir(), "example.so");
    EXPECT_TRUE(providers().empty());
    const auto rescan = httpRequest(host_->port(), {"POST", "/admin/providers/rescan"});
    ASSERT_EQ(rescan.status, 200) << rescan.body;
    EXPECT_EQ(rescan.json()["rescan"]["added"].size(), 1u);
    EXPECT_EQ(waitForStatus("example.so", "healthy")["status"], "healthy");
    expectExampleAnswers();
}

TEST_F(ProviderSupervision, AnAdminRestartGivesADegradedProviderAnotherChance) {
    startHost({{"crash-on-load.so", testPlugin("crash-on-load")}});
    ASSERT_EQ(waitForStatus("crash-on-load.so", "degraded")["status"], "degraded");
    const auto restart = httpRequest(host_->port(), {"POST", "/admin/providers/crash-on-load/restart"});
    EXPECT_EQ(restart.status, 202) << restart.body;
    const auto again = waitFor("crash-on-load.so", [](const Json& r) {
        return r["status"] == "degraded" && r["restarts"].get<int>() >= 5;
    });
    EXPECT_EQ(again["status"], "degraded") << again.dump();
    EXPECT_EQ(httpRequest(host_->port(), {"POST", "/admin/providers/nope/restart"}).status, 404);
}

TEST_F(ProviderSupervision, AdminRoutesNeedTheAdminToken) {
    startHost({{"example.so", testPlugin("example")}},
              {{"AW_AUTH_ADMIN_TOKENS", "adm"}, {"AW_AUTH_CLIENT_TOKENS", "cli"}});
    EXPECT_EQ(httpGet(host_->port(), "/admin/providers").status, 401);
    EXPECT_EQ(httpGet(host_->port(), "/admin/providers", {{"Authorization", "Bearer cli"}}).status, 403);
    EXPECT_EQ(httpGet(host_->port(), "/admin/providers", {{"Authorization", "Bearer adm"}}).status, 200);
}

}  // namespace
}  // namespace aw::test
