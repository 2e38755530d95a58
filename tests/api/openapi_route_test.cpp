// GET /openapi.json: agent-host serves docs/openapi.yaml as it was built, the same document
// the validators check (build/generated/openapi.json), without a token.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "support/agent_host_harness.h"
#include "support/http_client.h"
#include "support/temp_dir.h"

namespace aw::test {
namespace {

Json builtDocument() {
    std::ifstream in(AW_OPENAPI_JSON);
    if (!in) throw std::runtime_error(std::string("cannot read ") + AW_OPENAPI_JSON);
    std::stringstream text;
    text << in.rdbuf();
    return Json::parse(text.str());
}

TEST(OpenApiRoute, ServesTheDocumentItWasBuiltWith) {
    TempDir data;
    auto launch = defaultLaunch(data.path().string());
    launch.env["AW_AUTH_CLIENT_TOKENS"] = "client-t";
    launch.env["AW_AUTH_ADMIN_TOKENS"] = "admin-t";
    AgentHost host(launch);
    const auto served = httpGet(host.port(), "/openapi.json");  // no token: the route is public
    ASSERT_EQ(served.status, 200) << served.body;
    EXPECT_EQ(served.headers.at("Content-Type").rfind("application/json", 0), 0u);
    const Json document = served.json();
    EXPECT_EQ(document, builtDocument());
    EXPECT_EQ(document["openapi"], "3.1.0");
    // The routes it describes are the routes this host serves.
    for (const char* path :
         {"/health", "/ready", "/openapi.json", "/v1/sessions/{sid}/messages",
          "/v1/runs/{rid}/events", "/v1/callbacks/executor", "/admin/providers"}) {
        EXPECT_TRUE(document["paths"].contains(path)) << path;
    }
    const auto head = httpRequest(host.port(), {"HEAD", "/openapi.json"});
    EXPECT_EQ(head.status, 200);
    EXPECT_TRUE(head.body.empty());
}

}  // namespace
}  // namespace aw::test
