// agent-executor as a real process with the s3 object store against s3rver, through the
// proxy that counts requests, injects faults and checks every signature: the fixture of the
// executor's s3 tests.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <memory>
#include <string>

#include "agent_worker/core/restore_plan.h"
#include "executor/http_executor_client.h"
#include "support/executor_process.h"
#include "support/s3_fault_proxy.h"
#include "support/s3_server.h"
#include "support/temp_dir.h"

namespace aw::test {

using namespace std::chrono_literals;

constexpr const char* kBucket = "aw-ws";
constexpr const char* kPrefix = "root/t1/chat-1/";

class ExecutorS3 : public ::testing::Test {
protected:
    void SetUp() override {
        try {
            server_ = std::make_unique<S3Server>();
        } catch (const std::exception& e) {
            FAIL() << "cannot start the S3 test server: " << e.what();
        }
        server_->createBucket(kBucket);
        proxy_ = std::make_unique<S3FaultProxy>(server_->port());
        // A request whose signature S3 would refuse fails the test (s3rver would take it).
        proxy_->verifySignatures(S3Server::kAccessKey, S3Server::kSecretKey);
        for (const char* dir : {"workspace", "home", "state"})
            std::filesystem::create_directories(dir_ / dir);
        SubprocessOptions options;
        options.argv = {std::string(AW_BUILD_DIR) + "/bin/agent-executor",
                        "--socket",
                        (dir_ / "x.sock").string(),
                        "--spool-dir",
                        (dir_ / "state" / "spool").string(),
                        "--callback-url",
                        "http://127.0.0.1:9/unused",
                        "--executor-id",
                        "exec-1",
                        "--session-id",
                        "chat-1",
                        "--workspace",
                        workspace().string(),
                        "--home",
                        (dir_ / "home").string(),
                        "--bucket",
                        kBucket,
                        "--key-prefix",
                        kPrefix,
                        "--state-dir",
                        (dir_ / "state").string(),
                        "--object-store",
                        "s3",
                        "--s3-endpoint",
                        proxy_->endpoint(),
                        "--s3-region",
                        "us-east-1",
                        "--s3-path-style",
                        "true"};
        options.stderrFile = (dir_ / "executor.log").string();
        // The credentials follow the two tokens on stdin (no session token: an empty line).
        executor_ =
            startExecutor(options, "tok", "cb", {S3Server::kAccessKey, S3Server::kSecretKey, ""});
        ASSERT_TRUE(executor_->readLine(10s).has_value()) << readText(dir_ / "executor.log");
    }

    std::filesystem::path workspace() const { return dir_ / "workspace"; }
    HttpExecutorClient client() {
        HttpExecutorClientOptions options;
        options.retry.maxAttempts = 1;
        return HttpExecutorClient({"unix://" + (dir_ / "x.sock").string(), "tok"}, options);
    }
    void write(const std::filesystem::path& path, const std::string& text) {
        std::filesystem::create_directories(path.parent_path());
        std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
    }
    //! The session's workspace in the bucket as rclone sees it: relative path -> size.
    std::map<std::string, std::uint64_t> bucketWorkspace() {
        std::map<std::string, std::uint64_t> files;
        const std::string prefix = std::string(kPrefix) + "workspace/";
        for (const auto& [key, size] : server_->rcloneList(kBucket, prefix))
            files[key.substr(prefix.size())] = size;
        return files;
    }
    RestorePlan plan() {
        RestorePlan plan;
        plan.sessionId = "chat-1";
        plan.bucket = kBucket;
        plan.keyPrefix = kPrefix;
        plan.level = RestoreLevel::Workspace;
        plan.situation = RestoreSituation::Recreated;
        plan.entries.push_back({"workspace", RestoreLevel::Workspace,
                                std::string(kPrefix) + "workspace/", workspace().string(),
                                RestoreMode::Copy, ConflictPolicy::KeepSession, true});
        return plan;
    }

    std::unique_ptr<S3Server> server_;
    std::unique_ptr<S3FaultProxy> proxy_;
    TempDir dir_{"aw-xs3"};
    std::unique_ptr<Subprocess> executor_;
    const TraceContext trace_{"", "chat-1", "exec-1", ""};
};

}  // namespace aw::test
