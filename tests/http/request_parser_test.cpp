// RequestParser: requests however the bytes are split, pipelined, chunked, and refused
// with the status a client can act on when they are malformed or too large.
#include <gtest/gtest.h>

#include "http/request_parser.h"

namespace aw {
namespace {

using State = RequestParser::State;

RequestLimits small() { return {256, 64}; }

TEST(RequestParser, ReadsARequestFedOneByteAtATime) {
    RequestParser parser(small());
    const std::string text = "POST /v1/x?a=1 HTTP/1.1\r\nHost: h\r\ncontent-length: 5\r\nX-Two:  spaced  \r\n\r\nhello";
    for (std::size_t i = 0; i + 1 < text.size(); ++i) {
        ASSERT_EQ(parser.feed(text.substr(i, 1)), State::Partial) << "after byte " << i;
    }
    ASSERT_EQ(parser.feed(text.substr(text.size() - 1)), State::Complete);
    const auto request = parser.take();
    EXPECT_EQ(request.method, "POST");
    EXPECT_EQ(request.uri, "/v1/x?a=1");
    EXPECT_EQ(request.version, "HTTP/1.1");
    EXPECT_EQ(request.header("Content-Length"), "5");
    EXPECT_EQ(request.header("x-two"), "spaced");
    EXPECT_EQ(request.header("Absent"), "");
    EXPECT_EQ(request.body, "hello");
    EXPECT_EQ(parser.state(), State::Idle);
}

TEST(RequestParser, PipelinedRequestsComeOneAtATime) {
    RequestParser parser(small());
    ASSERT_EQ(parser.feed("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.0\r\n\r\nGET /c"), State::Complete);
    EXPECT_EQ(parser.take().uri, "/a");
    ASSERT_EQ(parser.resume(), State::Complete);
    const auto second = parser.take();
    EXPECT_EQ(second.uri, "/b");
    EXPECT_EQ(second.version, "HTTP/1.0");
    EXPECT_EQ(parser.resume(), State::Partial);
    EXPECT_EQ(parser.feed(" HTTP/1.1\r\n\r\n"), State::Complete);
    EXPECT_EQ(parser.take().uri, "/c");
}

TEST(RequestParser, StrayLineEndsBetweenRequestsAreSkipped) {
    RequestParser parser(small());
    EXPECT_EQ(parser.feed("\r\n\r\n"), State::Idle);
    EXPECT_EQ(parser.feed("GET / HTTP/1.1\r\n\r\n"), State::Complete);
}

TEST(RequestParser, DecodesAChunkedBodyAndDropsTrailers) {
    RequestParser parser(small());
    ASSERT_EQ(parser.feed("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n"
                          "5;name=v\r\npedia\r\n0\r\nX-Trailer: 1\r\n\r\n"),
              State::Complete);
    EXPECT_EQ(parser.take().body, "Wikipedia");
}

TEST(RequestParser, AsksForContinueOnceWhenTheClientWaits) {
    RequestParser parser(small());
    ASSERT_EQ(parser.feed("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"),
              State::Partial);
    EXPECT_TRUE(parser.takeContinueWanted());
    EXPECT_FALSE(parser.takeContinueWanted());
    EXPECT_EQ(parser.feed("ok"), State::Complete);
}

struct Refusal {
    std::string request;
    int status;
    std::string code;
};

class RequestParserRefuses : public ::testing::TestWithParam<Refusal> {};

TEST_P(RequestParserRefuses, WithTheStatusAClientCanActOn) {
    RequestParser parser(small());
    ASSERT_EQ(parser.feed(GetParam().request), State::Refused) << GetParam().request;
    EXPECT_EQ(parser.refusal().status(), GetParam().status);
    EXPECT_EQ(parser.refusal().problem().code, GetParam().code);
    EXPECT_FALSE(parser.refusal().problem().message.empty());
    // Refused stays refused: nothing after it is parsed.
    EXPECT_EQ(parser.feed("GET / HTTP/1.1\r\n\r\n"), State::Refused);
}

INSTANTIATE_TEST_SUITE_P(
    Malformed, RequestParserRefuses,
    ::testing::Values(
        Refusal{"GARBAGE\r\n", 400, "invalid_request"},
        Refusal{"GET  HTTP/1.1\r\n", 400, "invalid_request"},
        Refusal{"G(T / HTTP/1.1\r\n", 400, "invalid_request"},
        Refusal{"GET / HTTP/2\r\n", 505, "http_version_not_supported"},
        Refusal{"GET / HTTP/1.1\r\nno colon here\r\n\r\n", 400, "invalid_request"},
        Refusal{"GET / HTTP/1.1\r\n folded: value\r\n\r\n", 400, "invalid_request"},
        Refusal{"GET / HTTP/1.1\r\nBad Name: v\r\n\r\n", 400, "invalid_request"},
        Refusal{"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
                "invalid_request"},
        Refusal{"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400,
                "invalid_request"},
        Refusal{"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "invalid_request"},
        Refusal{"POST / HTTP/1.1\r\nContent-Length: 65\r\n\r\n", 413, "body_too_large"},
        Refusal{"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413,
                "body_too_large"},
        Refusal{"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n", 413, "body_too_large"},
        Refusal{"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, "invalid_request"},
        Refusal{"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n", 400, "invalid_request"},
        Refusal{"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "not_implemented"},
        Refusal{"GET /" + std::string(300, 'a') + " HTTP/1.1\r\n", 431, "headers_too_large"},
        Refusal{"GET / HTTP/1.1\r\nX: " + std::string(300, 'a'), 431, "headers_too_large"}));

TEST(RequestParser, ChunksAddingUpPastTheLimitAreRefused) {
    RequestParser parser(small());
    ASSERT_EQ(parser.feed("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n" +
                          std::string(32, 'a') + "\r\n20\r\n" + std::string(32, 'b') + "\r\n"),
              State::Partial);
    EXPECT_EQ(parser.feed("1\r\n"), State::Refused);
    EXPECT_EQ(parser.refusal().status(), 413);
}

TEST(RequestParser, TheHeaderLimitCountsEveryByteOnce) {
    // 200 bytes fed a byte at a time stay under a 256-byte limit.
    RequestParser parser(small());
    const std::string request = "GET / HTTP/1.1\r\nX: " + std::string(170, 'a') + "\r\n\r\n";
    ASSERT_LT(request.size(), 256u);
    State state = State::Idle;
    for (char c : request) state = parser.feed(std::string(1, c));
    EXPECT_EQ(state, State::Complete);
}

}  // namespace
}  // namespace aw
