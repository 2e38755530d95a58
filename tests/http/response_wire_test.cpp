// The bytes of an answer on the wire: what a 204 carries and what it must not.
#include <gtest/gtest.h>

#include "http/response_wire.h"

namespace aw {
namespace {

TEST(ResponseWire, NoContentHasNeitherBodyNorLengthNorType) {
    HttpResponse response;
    response.status = 204;
    response.body = "ignored";
    const std::string wire = serializeResponse(response, false, true, false);
    EXPECT_TRUE(wire.starts_with("HTTP/1.1 204 No Content\r\n")) << wire;
    EXPECT_EQ(wire.find("Content-Length"), std::string::npos) << wire;
    EXPECT_EQ(wire.find("Content-Type"), std::string::npos) << wire;
    EXPECT_TRUE(wire.ends_with("\r\n\r\n")) << wire;
}

TEST(ResponseWire, OtherAnswersKeepTheirLengthTypeAndBody) {
    HttpResponse response = HttpResponse::json(200, {{"ok", true}});
    const std::string wire = serializeResponse(response, false, true, false);
    EXPECT_NE(wire.find("Content-Type: application/json\r\n"), std::string::npos) << wire;
    EXPECT_NE(wire.find("Content-Length: " + std::to_string(response.body.size()) + "\r\n"),
              std::string::npos)
        << wire;
    EXPECT_TRUE(wire.ends_with("\r\n\r\n" + response.body)) << wire;
}

}  // namespace
}  // namespace aw
