// The JSON log line logFields() builds in one pass is, byte for byte, the line the formatter
// built before by parsing the fields back and dumping one object: log readers and the tests
// that grep log lines see no difference.
#include <gtest/gtest.h>

#include <Poco/AutoPtr.h>
#include <Poco/Channel.h>
#include <Poco/FormattingChannel.h>
#include <Poco/Logger.h>
#include <Poco/Message.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <mutex>
#include <string>
#include <vector>

#include "agent_worker/core/time_format.h"
#include "logging/json_formatter.h"

namespace aw {
namespace {

//! Keeps what reaches it: the formatted line and the message's time, level and source.
class CapturingChannel : public Poco::Channel {
public:
    void log(const Poco::Message& msg) override {
        std::lock_guard lock(mutex_);
        messages_.push_back(msg);
    }
    std::vector<Poco::Message> messages() {
        std::lock_guard lock(mutex_);
        return messages_;
    }

private:
    std::mutex mutex_;
    std::vector<Poco::Message> messages_;
};

//! The line as the formatter built it before logFields() built it once: one json object
//! with the four base keys, the fields merged over them, dumped compact.
std::string referenceLine(const Poco::Message& msg, const std::string& text,
                          const nlohmann::json& fields) {
    static const char* const kLevels[] = {"",       "fatal", "critical", "error", "warning",
                                          "notice", "info",  "debug",    "trace"};
    nlohmann::json line;
    line["ts"] = isoUtcMillis(msg.getTime().epochMicroseconds() / 1000);
    line["level"] = kLevels[msg.getPriority()];
    line["logger"] = msg.getSource();
    line["msg"] = text;
    const auto reparsed = nlohmann::json::parse(
        fields.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), nullptr, false);
    if (reparsed.is_object()) {
        for (auto& [key, value] : reparsed.items()) line[key] = value;
    }
    return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

class JsonLines : public ::testing::Test {
protected:
    void SetUp() override {
        capture_ = new CapturingChannel;
        logger().setChannel(new Poco::FormattingChannel(new JsonFormatter, capture_));
        logger().setLevel(Poco::Message::PRIO_TRACE);
    }
    void TearDown() override { logger().setChannel(nullptr); }

    static Poco::Logger& logger() { return Poco::Logger::get("test.json \"lines\"\t\xc3\xa9"); }

    //! Logs `text` with `fields` and checks the line against the reference.
    void expectSameLine(const std::string& text, const nlohmann::json& fields,
                        Poco::Message::Priority priority = Poco::Message::PRIO_INFORMATION) {
        const auto before = capture_->messages().size();
        logFields(logger(), priority, text, fields);
        const auto messages = capture_->messages();
        ASSERT_EQ(messages.size(), before + 1);
        const auto& msg = messages.back();
        EXPECT_EQ(msg.getText(), referenceLine(msg, text, fields)) << "fields " << fields.dump();
    }

    Poco::AutoPtr<CapturingChannel> capture_;
};

TEST_F(JsonLines, AnAccessLineIsTheLineOfTheMergedObject) {
    expectSameLine("request", {{"request_id", "0123456789abcdef0123456789abcdef"},
                               {"method", "GET"},
                               {"path", "/v1/runs/run_bench"},
                               {"status", 200},
                               {"duration_ms", 0.123456789},
                               {"trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"},
                               {"traceparent", "00-4bf92f3577b34da6-00f067aa0ba902b7-01"}});
    expectSameLine("request", {{"status", 503}, {"duration_ms", 12.0}},
                   Poco::Message::PRIO_WARNING);
}

TEST_F(JsonLines, FieldsNamedLikeTheBaseKeysReplaceThemInPlace) {
    expectSameLine("shown", {{"msg", "replaced"}, {"ts", 5}, {"level", nullptr}, {"a", 1}});
    expectSameLine("shown", {{"logger", {{"nested", true}}}, {"zzz", {1, 2, 3}}, {"m", "x"}});
}

TEST_F(JsonLines, EscapesAndInvalidUtf8AreWrittenAsDumpWritesThem) {
    const std::string odd = std::string("caf\xc3\xa9 \"q\" \\ / \n\t\r\b\f ") + '\x01' + '\x1f' +
                            '\x7f' + " bad \xff\xfe end";
    expectSameLine(odd, {{"text", odd},
                         {"we\"ird", 1},
                         {"\xc3\xbc"
                          "n\xc3\xaf"
                          "code",
                          "\xe2\x9c\x93"}});
    expectSameLine(odd, {{"key\nwith\tcontrols", odd}, {"", "empty key"}});
}

TEST_F(JsonLines, NumbersBooleansAndNullsKeepTheirSpelling) {
    expectSameLine("numbers", {{"negative", -42},
                               {"big", std::numeric_limits<std::uint64_t>::max()},
                               {"small", std::numeric_limits<std::int64_t>::min()},
                               {"tenth", 0.1},
                               {"whole", 1.0},
                               {"tiny", 1e-300},
                               {"nan", std::nan("")},
                               {"infinite", std::numeric_limits<double>::infinity()},
                               {"yes", true},
                               {"no", false},
                               {"nothing", nullptr},
                               {"list", nlohmann::json::array({1, "two", nullptr})},
                               {"object", nlohmann::json::object()}});
}

TEST_F(JsonLines, NoFieldsOrFieldsThatAreNoObjectGiveTheBaseKeysAlone) {
    expectSameLine("empty", nlohmann::json::object());
    expectSameLine("null", nullptr);
    expectSameLine("array", nlohmann::json::array({1, 2}));
    expectSameLine("string", "not an object");
    for (const auto priority :
         {Poco::Message::PRIO_FATAL, Poco::Message::PRIO_CRITICAL, Poco::Message::PRIO_ERROR,
          Poco::Message::PRIO_NOTICE, Poco::Message::PRIO_DEBUG, Poco::Message::PRIO_TRACE}) {
        expectSameLine("level", {{"p", static_cast<int>(priority)}}, priority);
    }
}

TEST_F(JsonLines, PlainPocoLoggingGetsTheSameLineWithoutFields) {
    const std::string text = "plain \"poco\" line \xc3\xa9\n";
    logger().information(text);
    const auto messages = capture_->messages();
    ASSERT_EQ(messages.size(), 1u);
    EXPECT_EQ(messages.back().getText(),
              referenceLine(messages.back(), text, nlohmann::json::object()));
}

TEST(JsonFormatter, TimestampsAreTheSameAcrossSecondsAndMillisecondsAndBackInTime) {
    JsonFormatter formatter;
    // In an order that leaves and re-enters the second the formatter last wrote.
    for (const std::int64_t ms :
         {1'700'000'000'000LL, 1'700'000'000'005LL, 1'700'000'000'999LL, 1'700'000'001'000LL,
          1'700'000'000'123LL, 0LL, 1LL, 999LL, 253'402'300'799'999LL, 1'700'000'001'010LL}) {
        Poco::Message msg("test.time", "tick", Poco::Message::PRIO_INFORMATION);
        msg.setTime(Poco::Timestamp(ms * 1000));
        std::string line;
        formatter.format(msg, line);
        EXPECT_EQ(line, referenceLine(msg, "tick", nullptr)) << ms;
    }
}

TEST_F(JsonLines, BelowTheLevelNothingIsBuilt) {
    logger().setLevel(Poco::Message::PRIO_WARNING);
    logFields(logger(), Poco::Message::PRIO_INFORMATION, "request", {{"status", 200}});
    EXPECT_TRUE(capture_->messages().empty());
}

}  // namespace
}  // namespace aw

namespace aw {
namespace {

class RawJsonLines : public ::testing::Test {
protected:
    void SetUp() override {
        capture_ = new CapturingChannel;
        logger().setChannel(new Poco::FormattingChannel(new JsonFormatter, capture_));
        logger().setLevel(Poco::Message::PRIO_INFORMATION);
    }
    void TearDown() override { logger().setChannel(nullptr); }
    static Poco::Logger& logger() { return Poco::Logger::get("test.raw"); }
    Poco::AutoPtr<CapturingChannel> capture_;
};

TEST_F(RawJsonLines, RawFieldsGiveTheLineTheSameFieldsAsJsonGive) {
    std::string method;
    appendJsonString(method, "GET");
    std::string path;
    appendJsonString(path, "/v1/runs/\"quoted\"\n\xff");  // escaped, invalid UTF-8 replaced
    const RawLogField fields[] = {{"duration_ms", "0.5"}, {"method", method}, {"path", path}, {"status", "200"}};
    logRawFields(logger(), Poco::Message::PRIO_INFORMATION, "request", fields);
    logRawFields(logger(), Poco::Message::PRIO_DEBUG, "request", fields);  // below the level
    const auto messages = capture_->messages();
    ASSERT_EQ(messages.size(), 1u);
    const nlohmann::json same = {
        {"duration_ms", 0.5}, {"method", "GET"}, {"path", "/v1/runs/\"quoted\"\n\xff"}, {"status", 200}};
    EXPECT_EQ(messages[0].getText(), referenceLine(messages[0], "request", same));
}

}  // namespace
}  // namespace aw
