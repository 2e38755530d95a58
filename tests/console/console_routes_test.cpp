// The console's side of agent-host, end to end with agent-host as a child process: /console
// serves its embedded files with their content types and nothing else (traversal attempts,
// encoded or not, reach no file), the embedding step refuses what it must not take in
// (symlinks, folders, unknown types), and the listings the page reads, GET /v1/sessions and
// GET /v1/runs, answer newest first with their scopes.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "support/agent_host_harness.h"
#include "support/fake_cli.h"
#include "support/plugins.h"
#include "support/raw_connection.h"
#include "support/temp_dir.h"

namespace aw::test {
namespace {

const char* kClientToken = "console-client-token";
const char* kAdminToken = "console-admin-token";

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

//! A host with tokens and the claude-code provider whose runs stay queued (no dispatcher
//! threads): enough to have sessions and runs to list, no CLI needed.
class ConsoleRoutes : public ::testing::Test {
protected:
    explicit ConsoleRoutes(Db db = Db::Sqlite) {
        std::filesystem::create_directories(data_ / "plugins");
        dropPlugin(shippedPlugin("claude-code"), data_ / "plugins", "claude-code.so");
        HostSpec spec{data_.path(),
                      data_ / "plugins",
                      db == Db::Sqlite ? "" : databaseUrlFor(db, "console"),
                      {}};
        spec.env = {{"AW_AUTH_CLIENT_TOKENS", kClientToken},
                    {"AW_AUTH_ADMIN_TOKENS", kAdminToken},
                    {"AW_DISPATCHER_CONCURRENCY", "0"},
                    {"AW_PROVIDERS", R"({"claude-code": {"binary": "/bin/true"}})"}};
        host_ = std::make_unique<AgentHost>(spec);
        // Messages name the provider, known once its plugin has hand-shaken.
        host_->waitProviderHealthy("claude-code");
    }

    //! GET `rawPath` sent byte for byte as given (no client-side normalisation).
    RawResponse rawGet(const std::string& rawPath) {
        RawConnection connection(host_->port());
        EXPECT_TRUE(connection.send("GET " + rawPath + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
        auto response = connection.readResponse();
        EXPECT_TRUE(response.has_value()) << rawPath << ": no answer";
        return response.value_or(RawResponse{});
    }

    HttpResult getWith(const std::string& path, const std::string& token) {
        std::map<std::string, std::string> headers;
        if (!token.empty()) headers["Authorization"] = "Bearer " + token;
        return httpGet(host_->port(), path, headers);
    }

    std::string send(const std::string& sessionId) {
        return host_->sendMessage(sessionId, "claude-code", "hello");
    }

    TempDir data_{"aw-console"};
    std::unique_ptr<AgentHost> host_;
};

TEST_F(ConsoleRoutes, ServesThePageAndItsFilesWithTheirTypes) {
    const auto page = rawGet("/console");
    EXPECT_EQ(page.status, 200);
    EXPECT_EQ(page.headers.at("content-type"), "text/html; charset=utf-8");
    EXPECT_TRUE(contains(page.body, R"(<script src="/console/console.js")")) << page.body;
    EXPECT_TRUE(contains(page.headers.at("content-security-policy"), "script-src 'self'"));
    EXPECT_TRUE(contains(page.headers.at("content-security-policy"), "frame-ancestors 'none'"));
    EXPECT_EQ(page.headers.at("x-content-type-options"), "nosniff");

    const auto script = rawGet("/console/console.js");
    EXPECT_EQ(script.status, 200);
    EXPECT_EQ(script.headers.at("content-type"), "text/javascript; charset=utf-8");
    EXPECT_TRUE(contains(script.body, "/v1/runs")) << "the page's script, whole";
    const auto sheet = rawGet("/console/console.css");
    EXPECT_EQ(sheet.status, 200);
    EXPECT_EQ(sheet.headers.at("content-type"), "text/css; charset=utf-8");
    EXPECT_EQ(rawGet("/console/index.html").body, page.body);
    EXPECT_EQ(rawGet("/console/").body, page.body);

    // The page needs no token: what it shows comes from API calls that carry one.
    const auto unknown = rawGet("/console/nothing.js");
    EXPECT_EQ(unknown.status, 404);
    EXPECT_TRUE(contains(unknown.body, "console.js"))
        << "the hint names the files: " << unknown.body;
}

TEST_F(ConsoleRoutes, NoPathLeadsOutsideTheEmbeddedFiles) {
    const std::string secret = (data_ / "secret.txt").string();
    { std::ofstream(secret) << "the-data-dir-secret"; }
    const std::vector<std::string> attempts = {
        "/console/../../etc/passwd",
        "/console/..%2F..%2Fetc%2Fpasswd",
        "/console/%2e%2e/%2e%2e/etc/passwd",
        "/console/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/console/..%252F..%252Fetc%252Fpasswd",
        "/console/%2Fetc%2Fpasswd",
        "/console//etc/passwd",
        "/console/..",
        "/console/.",
        "/console/%00",
        "/console/console.js%00.html",
        "/console/console.js/..",
        "/console/..\\..\\etc\\passwd",
        "/console/....//....//etc/passwd",
        "/console/" + std::string("..%2F..%2F..%2F..%2F..%2F..%2F..%2F..") + secret};
    for (const auto& path : attempts) {
        const auto answer = rawGet(path);
        EXPECT_NE(answer.status, 200) << path << ": " << answer.body.substr(0, 200);
        EXPECT_FALSE(contains(answer.body, "root:")) << path;
        EXPECT_FALSE(contains(answer.body, "the-data-dir-secret")) << path;
    }
}

//! Runs cmake/EmbedConsole.cmake on `dir`; its exit status and output.
std::pair<int, std::string> embed(const std::filesystem::path& dir,
                                  const std::filesystem::path& out) {
    const auto log = out.string() + ".log";
    const std::string command =
        "cmake -DCONSOLE_DIR=" + shellQuote(dir.string()) +
        " -DOUTPUT=" + shellQuote(out.string()) + " -P " +
        shellQuote(std::string(AW_SOURCE_DIR) + "/cmake/EmbedConsole.cmake") + " >" +
        shellQuote(log) + " 2>&1";
    const int status = std::system(command.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, readText(log)};
}

// The files are taken in at build time; a symlink or a folder planted in host/console/ (to
// /etc/passwd, to the data dir) stops the build instead of being served.
TEST(ConsoleEmbedding, RefusesSymlinksFoldersAndUnknownTypes) {
    TempDir work("aw-console-embed");
    const auto console = work / "console";
    std::filesystem::create_directories(console);
    std::ofstream(console / "index.html") << "<!doctype html><p>ok</p>";

    const auto good = embed(console, work / "good.cpp");
    ASSERT_EQ(good.first, 0) << good.second;
    EXPECT_TRUE(
        contains(readText(work / "good.cpp"), "\"index.html\", \"text/html; charset=utf-8\""));

    std::filesystem::create_symlink("/etc/passwd", console / "passwd.js");
    auto refused = embed(console, work / "symlink.cpp");
    EXPECT_NE(refused.first, 0);
    EXPECT_TRUE(contains(refused.second, "only regular files")) << refused.second;
    EXPECT_FALSE(std::filesystem::exists(work / "symlink.cpp"));
    std::filesystem::remove(console / "passwd.js");

    std::filesystem::create_directory_symlink("/etc", console / "etc");
    refused = embed(console, work / "folder.cpp");
    EXPECT_NE(refused.first, 0);
    EXPECT_TRUE(contains(refused.second, "only regular files")) << refused.second;
    std::filesystem::remove(console / "etc");

    std::ofstream(console / "notes.txt") << "not a page file";
    refused = embed(console, work / "type.cpp");
    EXPECT_NE(refused.first, 0);
    EXPECT_TRUE(contains(refused.second, "notes.txt")) << refused.second;
}

//! The listings read the database: on SQLite and on PostgreSQL.
class ConsoleListings : public ConsoleRoutes, public ::testing::WithParamInterface<Db> {
protected:
    ConsoleListings() : ConsoleRoutes(GetParam()) {}
};

std::string paramName(const ::testing::TestParamInfo<Db>& info) {
    return toString(info.param);
}

TEST_P(ConsoleListings, ListRunsNewestFirstBySessionAndLimit) {
    const std::vector<std::string> first = {send("list-a"), send("list-b"), send("list-a")};
    const auto all = getWith("/v1/runs", kClientToken);
    ASSERT_EQ(all.status, 200) << all.body;
    const auto runs = all.json()["runs"];
    ASSERT_EQ(runs.size(), 3u) << all.body;
    for (std::size_t i = 1; i < runs.size(); ++i) {
        EXPECT_GE(runs[i - 1].value("created_at", ""), runs[i].value("created_at", "")) << all.body;
    }
    for (const auto& run : runs) {
        EXPECT_EQ(run.value("status", ""), "queued");
        EXPECT_EQ(run.value("provider", ""), "claude-code");
        EXPECT_TRUE(std::count(first.begin(), first.end(), run.value("run_id", ""))) << run.dump();
    }

    const auto ofA = getWith("/v1/runs?session_id=list-a", kClientToken).json()["runs"];
    ASSERT_EQ(ofA.size(), 2u);
    for (const auto& run : ofA) EXPECT_EQ(run.value("session_id", ""), "list-a");

    // A limit keeps the newest: nothing left out is newer than what is answered.
    const auto two = getWith("/v1/runs?limit=2", kClientToken).json()["runs"];
    ASSERT_EQ(two.size(), 2u);
    for (const auto& run : runs) {
        const bool kept =
            std::any_of(two.begin(), two.end(), [&](const auto& r) { return r == run; });
        if (!kept) {
            EXPECT_LE(run.value("created_at", ""), two.back().value("created_at", ""));
        }
    }

    EXPECT_EQ(getWith("/v1/runs?limit=0", kClientToken).status, 400);
    EXPECT_EQ(getWith("/v1/runs?limit=abc", kClientToken).status, 400);
    EXPECT_EQ(getWith("/v1/runs?session_id=..%2Fx", kClientToken).status, 400);
    EXPECT_EQ(getWith("/v1/runs?session_id=nobody", kClientToken).json()["runs"].size(), 0u);
    EXPECT_EQ(getWith("/v1/runs", "").status, 401);
    EXPECT_EQ(getWith("/v1/runs", kAdminToken).status, 403)
        << "client routes take the client token";
}

TEST_P(ConsoleListings, ListSessionsMostRecentlyUpdatedFirst) {
    send("sess-1");
    send("sess-2");
    const auto answer = getWith("/v1/sessions", kClientToken);
    ASSERT_EQ(answer.status, 200) << answer.body;
    const auto sessions = answer.json()["sessions"];
    ASSERT_EQ(sessions.size(), 2u) << answer.body;
    for (const auto& session : sessions) {
        EXPECT_TRUE(session.contains("provider_usage") && session.contains("last_sync_status"))
            << "the same record as GET /v1/sessions/{sid}: " << session.dump();
        EXPECT_EQ(session, host_->session(session.value("session_id", "")));
    }
    EXPECT_GE(sessions[0].value("updated_at", ""), sessions[1].value("updated_at", ""));
    EXPECT_EQ(getWith("/v1/sessions?limit=1", kClientToken).json()["sessions"].size(), 1u);
    EXPECT_EQ(getWith("/v1/sessions?limit=1001", kClientToken).status, 400);
    EXPECT_EQ(getWith("/v1/sessions", "").status, 401);
    EXPECT_EQ(getWith("/v1/sessions", kAdminToken).status, 403);
}

INSTANTIATE_TEST_SUITE_P(Db, ConsoleListings, ::testing::Values(Db::Sqlite, Db::Postgres),
                         paramName);

}  // namespace
}  // namespace aw::test
