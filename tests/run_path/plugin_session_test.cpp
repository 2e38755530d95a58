// Step 4 of a run: the plugin session feeds lines in chunks, survives a crashed plugin
// process by replaying what was translated into a fresh one, and quarantines a poison line.
#include <gtest/gtest.h>

#include "agent_worker/core/runs/plugin_session.h"
#include "agent_worker/core/runs/run_failure.h"
#include "run_path/run_path_doubles.h"

namespace aw {
namespace {

using Json = nlohmann::json;
using testing::FakeProviderRegistry;
using testing::InMemoryRunStore;
using testing::ScriptedPluginProcess;

class PluginSessionTest : public ::testing::Test {
protected:
    PluginSessionTest() {
        store.runs["run_1"].runId = "run_1";
        addProcess();
    }

    std::shared_ptr<ScriptedPluginProcess> addProcess() {
        auto process = std::make_shared<ScriptedPluginProcess>();
        process->feedOutput = [](const std::string& line) {
            return Json{{"events", {{{"type", "message.delta"},
                                     {"data", {{"message_id", "m"}, {"kind", "text"}, {"text", line}}}}}}};
        };
        providers.processes.push_back(process);
        return process;
    }

    //! Lines as the executor delivered them (stored raw output) and as the assembler hands them.
    std::vector<AssembledLine> deliver(const std::vector<std::string>& texts) {
        std::vector<RawOutputRecord> records;
        std::vector<AssembledLine> lines;
        for (const auto& text : texts) {
            RawOutputRecord record;
            record.runId = "run_1";
            record.stream = "stdout";
            record.seq = ++seq;
            record.eventId = "run_1/stdout/" + std::to_string(record.seq);
            record.line = text;
            records.push_back(record);
            lines.push_back({{record.eventId}, text, record.seq});
        }
        store.insertRawOutput(records, 0);
        return lines;
    }

    //! Marks lines translated, as the run's translation does when it stores their events.
    PluginSession::Translated markTranslated() {
        return [this](const std::vector<AssembledLine>& lines, const Json& outputs) {
            EXPECT_EQ(outputs.size(), lines.size());
            RawProgress progress;
            for (const auto& line : lines) {
                progress.translatedThrough = line.lastSeq;
                translated.push_back(line.text);
            }
            store.appendEvents("run_1", {}, progress, 0);
        };
    }
    PluginSession::Quarantined recordQuarantine() {
        return [this](const AssembledLine& line, int crashes, const std::string&) {
            quarantined.push_back(line.text);
            quarantineCrashes = crashes;
            store.appendEvents("run_1", {}, RawProgress{line.lastSeq, line.rawIds}, 0);
        };
    }

    PluginSession openSession(std::size_t chunk = 64) {
        PluginSession session({std::chrono::milliseconds(0), 2, chunk}, providers, store, "run_1", "claude-code");
        session.acquire();
        session.open({{"prompt", "hi"}});
        return session;
    }

    FakeProviderRegistry providers;
    InMemoryRunStore store;
    std::int64_t seq = 0;
    std::vector<std::string> translated, quarantined;
    int quarantineCrashes = 0;
};

TEST_F(PluginSessionTest, LinesGoInChunksAndEachAnsweredChunkIsTranslatedInOrder) {
    auto session = openSession(2);
    session.feed(deliver({"a", "b", "c"}), seq + 1, markTranslated(), recordQuarantine());
    EXPECT_EQ(translated, (std::vector<std::string>{"a", "b", "c"}));
    int feeds = 0;
    for (const auto& [op, params] : providers.processes.front()->calls) {
        if (op == "feed") {
            ++feeds;
            EXPECT_EQ(params["run"], "run_1#1");
        }
    }
    EXPECT_EQ(feeds, 2);
}

TEST_F(PluginSessionTest, AfterACrashTheRestartedProcessIsReopenedAndReplayedWhatWasTranslated) {
    auto session = openSession();
    session.feed(deliver({"a", "b"}), seq + 1, markTranslated(), recordQuarantine());
    providers.processes.front()->poison = "boom";
    auto fresh = addProcess();
    session.feed(deliver({"c", "boom", "d"}), seq + 1, markTranslated(), recordQuarantine());

    // The fresh process was opened with the same request and replayed a, b (and the lines
    // of the crashed chunk that got through alone) before its own lines.
    ASSERT_FALSE(fresh->calls.empty());
    EXPECT_EQ(fresh->calls.front().first, "open");
    EXPECT_EQ(fresh->calls.front().second["request"]["prompt"], "hi");
    EXPECT_EQ(fresh->calls.front().second["run"], "run_1#2");
    EXPECT_EQ(std::vector<std::string>(fresh->fed.begin(), fresh->fed.begin() + 2),
              (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(translated, (std::vector<std::string>{"a", "b", "c", "boom", "d"}));
    EXPECT_TRUE(quarantined.empty());
}

TEST_F(PluginSessionTest, ALineThatCrashesFreshProcessesIsQuarantinedAndTheRestTranslated) {
    auto session = openSession();
    for (int i = 0; i < 3; ++i) {
        auto process = i == 0 ? providers.processes.front() : addProcess();
        process->poison = "poison";
    }
    addProcess();  // the one that serves after the quarantine
    session.feed(deliver({"a", "poison", "b"}), seq + 1, markTranslated(), recordQuarantine());
    EXPECT_EQ(quarantined, std::vector<std::string>{"poison"});
    EXPECT_EQ(quarantineCrashes, 2);
    EXPECT_EQ(translated, (std::vector<std::string>{"a", "b"}));
}

//! The lines of each feed request a process got, in order.
std::vector<std::vector<std::string>> feedsOf(const ScriptedPluginProcess& process) {
    std::vector<std::vector<std::string>> feeds;
    for (const auto& [op, params] : process.calls) {
        if (op == "feed") feeds.push_back(params["lines"].get<std::vector<std::string>>());
    }
    return feeds;
}

using Feeds = std::vector<std::vector<std::string>>;
const std::vector<std::string> kSixLines = {"a", "b", "c", "d", "e", "f"};

TEST_F(PluginSessionTest, TheNextChunksAreSentBeforeAnAnsweredChunkIsTranslated) {
    auto session = openSession(2);
    auto process = providers.processes.front();
    std::vector<int> feedsSentWhenTranslated;
    auto mark = markTranslated();
    session.feed(
        deliver(kSixLines), seq + 1,
        [&](const std::vector<AssembledLine>& lines, const Json& outputs) {
            feedsSentWhenTranslated.push_back(process->feeds);
            mark(lines, outputs);
        },
        recordQuarantine());
    EXPECT_EQ(translated, kSixLines);
    // While chunk k is translated, k+1 and k+2 are with the plugin already.
    EXPECT_EQ(feedsSentWhenTranslated, (std::vector<int>{3, 3, 3}));
    EXPECT_EQ(feedsOf(*process), (Feeds{{"a", "b"}, {"c", "d"}, {"e", "f"}}));
}

TEST_F(PluginSessionTest, ACrashOfTheNextChunkReplaysTheAnsweredOneAndRedoesEveryChunkAfterIt) {
    auto session = openSession(2);
    providers.processes.front()->crashOnFeed = 2;  // c, d: while a, b is answered, not yet handled
    auto fresh = addProcess();
    const auto lines = deliver(kSixLines);
    session.feed(lines, seq + 1, markTranslated(), recordQuarantine());

    // a, b reached the store before the crash was seen: the fresh process is rebuilt with
    // them, takes the crashed chunk line by line, and e, f again (sent to the dead one).
    EXPECT_EQ(translated, kSixLines);
    EXPECT_EQ(feedsOf(*fresh), (Feeds{{"a", "b"}, {"c"}, {"d"}, {"e", "f"}}));
    EXPECT_TRUE(quarantined.empty());
}

TEST_F(PluginSessionTest, ACrashThatTakesTheAnswersInFlightRedoesTheChunksFromTheFirstUnhandled) {
    auto session = openSession(2);
    providers.processes.front()->crashOnFeed = 2;
    providers.processes.front()->crashFailsInFlight = true;  // a, b's answer dies with it
    auto fresh = addProcess();
    const auto lines = deliver(kSixLines);
    session.feed(lines, seq + 1, markTranslated(), recordQuarantine());

    // Nothing was translated, so nothing is replayed; a, b (the first chunk that failed) go
    // line by line, the rest in chunks.
    EXPECT_EQ(translated, kSixLines);
    EXPECT_EQ(feedsOf(*fresh), (Feeds{{"a"}, {"b"}, {"c", "d"}, {"e", "f"}}));
}

TEST_F(PluginSessionTest, ACrashOfAChunkWithTheNextSubmittedRedoesBoth) {
    auto session = openSession(2);
    session.feed(deliver({"a", "b"}), seq + 1, markTranslated(), recordQuarantine());
    providers.processes.front()->crashOnFeed = 2;  // c, d; e, f is sent to the dead process
    auto fresh = addProcess();
    session.feed(deliver({"c", "d", "e", "f"}), seq + 1, markTranslated(), recordQuarantine());

    EXPECT_EQ(translated, kSixLines);
    EXPECT_EQ(feedsOf(*fresh), (Feeds{{"a", "b"}, {"c"}, {"d"}, {"e", "f"}}));
}

TEST_F(PluginSessionTest, APoisonLineInTheNextChunkIsQuarantinedAndEveryOtherLineTranslatedOnce) {
    auto session = openSession(2);
    for (int i = 0; i < 3; ++i) {
        auto process = i == 0 ? providers.processes.front() : addProcess();
        process->poison = "d";
    }
    auto last = addProcess();
    const auto lines = deliver(kSixLines);
    session.feed(lines, seq + 1, markTranslated(), recordQuarantine());

    EXPECT_EQ(quarantined, std::vector<std::string>{"d"});
    EXPECT_EQ(translated, (std::vector<std::string>{"a", "b", "c", "e", "f"}));
    // The process serving after the quarantine rebuilt from a, b, c (d never reached the
    // store) and got e, f once.
    EXPECT_EQ(feedsOf(*last), (Feeds{{"a", "b"}, {"c"}, {"e", "f"}}));
}

TEST_F(PluginSessionTest, ARefusedChunkThrowsAfterTheChunksBeforeItAreTranslated) {
    auto session = openSession(2);
    providers.processes.front()->refuseFeed = 2;
    try {
        session.feed(deliver(kSixLines), seq + 1, markTranslated(), recordQuarantine());
        FAIL() << "the refused feed did not reach the caller";
    } catch (const ProviderCallError& e) {
        EXPECT_EQ(e.problem().code, "invalid_input");
    }
    EXPECT_EQ(translated, (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(providers.acquires, 1);
}

TEST_F(PluginSessionTest, APluginsRefusalOfOneRequestIsNotTakenForACrash) {
    auto session = openSession();
    providers.processes.front()->answers["reply"] = [](const Json&) -> Json {
        throw ProviderCallError({"invalid_input", "a question needs reply.answers", ""});
    };
    try {
        session.reply({{"request_id", "q1"}, {"decision", "allow"}});
        FAIL() << "the refusal did not reach the caller";
    } catch (const ProviderCallError& e) {
        EXPECT_FALSE(e.processFailed());
        EXPECT_EQ(e.problem().code, "invalid_input");
    }
    EXPECT_EQ(providers.acquires, 1);
}

TEST_F(PluginSessionTest, NoProcessWithinTheWaitIsARetryableProviderUnavailable) {
    providers.processes.clear();
    PluginSession session({std::chrono::milliseconds(0), 2, 64}, providers, store, "run_1", "claude-code");
    try {
        session.acquire();
        FAIL() << "acquired a provider that has no process";
    } catch (const RunAttemptFailure& failure) {
        EXPECT_TRUE(failure.retryable());
        EXPECT_EQ(failure.problem().code, "provider_unavailable");
    }
}

TEST_F(PluginSessionTest, TheExitIsAskedAgainOfARestartedProcessAndAGiveUpIsAnEmptyOutput) {
    auto session = openSession();
    providers.processes.front()->dead = true;
    auto fresh = addProcess();
    fresh->answers["exit"] = [](const Json& params) {
        return Json{{"events", {{{"type", "run.completed"}, {"data", {{"exit_code", params["exit_code"]}}}}}}};
    };
    const auto output = session.exit({0, std::nullopt, 0}, false, 1);
    EXPECT_EQ(output["events"][0]["type"], "run.completed");

    fresh->dead = true;
    for (int i = 0; i < 3; ++i) addProcess()->dead = true;
    EXPECT_THROW(session.exit({0, std::nullopt, 0}, false, 1), RunAttemptFailure);
}

}  // namespace
}  // namespace aw
