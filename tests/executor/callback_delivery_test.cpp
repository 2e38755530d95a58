// The executor's delivery rules: what a host's answer means, and line pieces that fit a
// callback body as nlohmann writes them, never cut inside a UTF-8 character.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <random>

#include "agent_worker/core/callback_delivery.h"

namespace aw {
namespace {

std::size_t dumpedBytes(const std::string& text) {
    // Without the two quotes.
    return nlohmann::json(text)
               .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
               .size() -
           2;
}

TEST(CallbackAnswer, OnlyAPermanentRefusalGivesUpAndOnly413Shrinks) {
    EXPECT_EQ(classifyCallbackAnswer(200), CallbackOutcome::Delivered);
    EXPECT_EQ(classifyCallbackAnswer(204), CallbackOutcome::Delivered);
    EXPECT_EQ(classifyCallbackAnswer(413), CallbackOutcome::TooLarge);
    for (const int permanent : {400, 401, 403, 404, 409, 422}) {
        EXPECT_EQ(classifyCallbackAnswer(permanent), CallbackOutcome::Refused) << permanent;
    }
    for (const int transient : {0, 408, 429, 500, 502, 503, 504, 302}) {
        EXPECT_EQ(classifyCallbackAnswer(transient), CallbackOutcome::Retry) << transient;
    }
}

TEST(CallbackLinePieces, TheJsonSizeIsWhatNlohmannWritesAndNeverLess) {
    const std::vector<std::string> valid{
        "",
        "plain ascii",
        "quotes \" and \\ backslashes\t\n\r\b\f",
        std::string("controls \x01\x02\x1f and \x7f", 17),
        "utf-8 é ü € 𝄞 日本語",
    };
    for (const auto& sample : valid)
        EXPECT_EQ(jsonStringBytes(sample), dumpedBytes(sample)) << sample;
    // Invalid bytes become U+FFFD; a cut sequence may count one per byte where nlohmann
    // writes one for the whole: a piece may come out smaller than counted, never larger.
    EXPECT_EQ(jsonStringBytes("invalid \xff\xfe, lone \x80, overlong \xc0\xaf"),
              dumpedBytes("invalid \xff\xfe, lone \x80, overlong \xc0\xaf"));
    EXPECT_GE(jsonStringBytes("a cut char \xe2\x82, surrogate \xed\xa0\x80"),
              dumpedBytes("a cut char \xe2\x82, surrogate \xed\xa0\x80"));
    std::mt19937 random(7);
    for (int round = 0; round < 500; ++round) {
        std::string text(static_cast<std::size_t>(random() % 64), '\0');
        for (auto& c : text) c = static_cast<char>(random() % 256);
        EXPECT_GE(jsonStringBytes(text), dumpedBytes(text)) << round;
    }
}

TEST(CallbackLinePieces, APrefixFitsItsBudgetAndNeverCutsACharacter) {
    const std::string text = "ab€d\"e日本";  // € and 日本 are 3 bytes each, " is 2 in JSON
    EXPECT_EQ(fittingPrefix(text, 100), text.size());
    EXPECT_EQ(fittingPrefix(text, 2), 2u);
    EXPECT_EQ(fittingPrefix(text, 3), 2u);  // not half of €
    EXPECT_EQ(fittingPrefix(text, 5), 5u);
    EXPECT_EQ(fittingPrefix(text, 7), 6u);  // "d" fits, the escaped quote does not
    // At least one character, so that cutting always progresses.
    EXPECT_EQ(fittingPrefix("日本", 1), 3u);
    EXPECT_EQ(fittingPrefix("", 10), 0u);

    std::mt19937 random(11);
    const std::vector<std::string> alphabet{"a", "\"", "\x01", "é", "€", "𝄞", "\xff", "\n"};
    std::string line;
    for (int i = 0; i < 5000; ++i) line += alphabet[random() % alphabet.size()];
    std::string_view rest = line;
    std::string rebuilt;
    while (!rest.empty()) {
        const std::size_t length = fittingPrefix(rest, 100);
        const std::string piece(rest.substr(0, length));
        EXPECT_LE(jsonStringBytes(piece), 100u);
        EXPECT_EQ(jsonStringBytes(piece), dumpedBytes(piece));  // no character broken in two
        rebuilt += piece;
        rest.remove_prefix(length);
    }
    EXPECT_EQ(rebuilt, line);
}

TEST(CallbackLinePieces, APieceLeavesRoomForItsEnvelope) {
    EXPECT_EQ(CallbackBodyLimit::linePieceBytes(1024 * 1024),
              1024u * 1024u - CallbackBodyLimit::kEnvelopeBytes);
    EXPECT_EQ(CallbackBodyLimit::linePieceBytes(10),
              CallbackBodyLimit::kMinimumBytes - CallbackBodyLimit::kEnvelopeBytes);
}

}  // namespace
}  // namespace aw
