// GET /openapi.json: agent-host serves docs/openapi.yaml as it was built, the same document
// the validators check (build/generated/openapi.json), without a token. And the test clients
// record agent-host's responses, which ApiResponses.MatchTheDocument checks against it.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <vector>

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
         {"/health", "/ready", "/openapi.json", "/v1/sessions", "/v1/sessions/{sid}/messages",
          "/v1/runs", "/v1/runs/{rid}/events", "/v1/callbacks/executor", "/admin/providers",
          "/metrics", "/console", "/console/{file}"}) {
        EXPECT_TRUE(document["paths"].contains(path)) << path;
    }
    const auto head = httpRequest(host.port(), {"HEAD", "/openapi.json"});
    EXPECT_EQ(head.status, 200);
    EXPECT_TRUE(head.body.empty());
}

//! The media types the document allows for a console file (components/responses/ConsoleFile).
std::vector<std::string> consoleMediaTypes(const Json& document) {
    std::vector<std::string> types;
    for (const auto& [type, _] :
         document["components"]["responses"]["ConsoleFile"]["content"].items())
        types.push_back(type);
    return types;
}

// The console's answers, through the recording client (its own suite sends raw bytes, which
// are not recorded), so the drift check sees them too: the page, its files, and the 404.
TEST(OpenApiRoute, ConsoleAnswersAsTheDocumentSays) {
    TempDir data;
    auto launch = defaultLaunch(data.path().string());
    launch.env["AW_AUTH_CLIENT_TOKENS"] = "client-t";
    AgentHost host(launch);
    const auto types = consoleMediaTypes(builtDocument());
    ASSERT_FALSE(types.empty());
    for (const char* path : {"/console", "/console/", "/console/index.html", "/console/console.js",
                             "/console/console.css"}) {
        const auto answer = httpGet(host.port(), path);  // no token: the console is public
        ASSERT_EQ(answer.status, 200) << path << ": " << answer.body;
        const std::string type = answer.headers.at("Content-Type");
        const std::string mediaType = type.substr(0, type.find(';'));
        EXPECT_NE(std::find(types.begin(), types.end(), mediaType), types.end())
            << path << " is served as " << type << ", which docs/openapi.yaml does not list";
        EXPECT_FALSE(answer.headers.at("Content-Security-Policy").empty()) << path;
    }
    const auto unknown = httpGet(host.port(), "/console/nothing.js");
    EXPECT_EQ(unknown.status, 404);
    EXPECT_EQ(unknown.json()["error"]["code"], "not_found") << unknown.body;
    EXPECT_EQ(httpRequest(host.port(), {"HEAD", "/console"}).status, 200);
}

//! The records this process appended to `dir` (tests/support/api_recorder.h).
std::vector<Json> recordsOfThisProcess(const std::filesystem::path& dir) {
    std::vector<Json> records;
    const std::string suffix = "-" + std::to_string(::getpid()) + ".jsonl";
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        const std::string name = entry.path().filename().string();
        if (name.size() < suffix.size() ||
            name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
            continue;
        std::ifstream in(entry.path());
        for (std::string line; std::getline(in, line);) records.push_back(Json::parse(line));
    }
    return records;
}

// The drift check sees what the suites received only if the clients record it: every
// response of an agent-host, and nothing from other servers.
TEST(ApiRecorder, RecordsEveryResponseOfAnAgentHost) {
    std::optional<TempDir> ownDir;
    if (const char* dir = std::getenv("AW_API_RECORD_DIR"); !dir || !*dir) {
        ownDir.emplace();  // run outside ctest: record into a directory of its own
        ::setenv("AW_API_RECORD_DIR", ownDir->path().c_str(), 1);
    }
    const std::filesystem::path dir = std::getenv("AW_API_RECORD_DIR");
    TempDir data;
    AgentHost host(defaultLaunch(data.path().string()));
    EXPECT_EQ(httpGet(host.port(), "/health").status, 200);
    EXPECT_EQ(httpGet(host.port(), "/v2/nowhere?x=1").status, 404);
    EXPECT_EQ(httpRequest(host.port(), {"HEAD", "/openapi.json"}).status, 200);

    std::vector<Json> mine;
    for (auto& record : recordsOfThisProcess(dir)) {
        if (record["test"] == "ApiRecorder.RecordsEveryResponseOfAnAgentHost")
            mine.push_back(record);
    }
    ASSERT_EQ(mine.size(), 3u) << "records in " << dir;
    EXPECT_EQ(mine[0]["method"], "GET");
    EXPECT_EQ(mine[0]["path"], "/health");
    EXPECT_EQ(mine[0]["status"], 200);
    EXPECT_EQ(Json::parse(mine[0]["body"].get<std::string>()), Json({{"status", "ok"}}));
    EXPECT_EQ(mine[0]["content_type"], "application/json");
    EXPECT_EQ(mine[1]["path"], "/v2/nowhere?x=1");
    EXPECT_EQ(mine[1]["status"], 404);
    EXPECT_EQ(mine[2]["method"], "HEAD");
    EXPECT_EQ(mine[2]["body"], "");

    if (ownDir) ::unsetenv("AW_API_RECORD_DIR");
}

}  // namespace
}  // namespace aw::test
