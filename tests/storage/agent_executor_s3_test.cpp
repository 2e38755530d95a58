// agent-executor with the s3 object store, as a real process against s3rver (through the
// proxy that counts requests and checks their signatures): its credentials come on stdin,
// incremental sync sends only what changed (counted in requests) and deletes what was deleted,
// restore brings the workspace back, and a store that is down makes the sync fail with its reason,
// then succeed once it is back.
#include "executor_s3_fixture.h"

namespace aw::test {
namespace {

namespace fs = std::filesystem;

TEST_F(ExecutorS3, SyncSendsOnlyChangesDeletesDeletionsAndRestoreBringsFilesBack) {
    write(workspace() / "a.txt", "alpha");
    write(workspace() / "src" / "b.txt", "beta");
    write(workspace() / "docs" / "r\xC3\xA9sum\xC3\xA9 1+1.md", "odd name");
    const auto first = client().sync(trace_, "incremental", "test");
    EXPECT_EQ(first["uploaded_files"], 3) << first.dump();
    EXPECT_EQ(bucketWorkspace(),
              (std::map<std::string, std::uint64_t>{
                  {"a.txt", 5}, {"docs/r\xC3\xA9sum\xC3\xA9 1+1.md", 8}, {"src/b.txt", 4}}));

    proxy_->clear();
    const auto unchanged = client().sync(trace_, "incremental", "test");
    EXPECT_EQ(unchanged["uploaded_files"], 0);
    EXPECT_EQ(unchanged["unchanged_files"], 3);
    EXPECT_EQ(proxy_->count("PUT"), 0) << "an unchanged workspace sends nothing";

    write(workspace() / "src" / "b.txt", "beta, edited");
    fs::remove(workspace() / "a.txt");
    proxy_->clear();
    const auto changed = client().sync(trace_, "incremental", "message.stop");
    EXPECT_EQ(changed["uploaded_files"], 1) << changed.dump();
    EXPECT_EQ(changed["deleted_files"], 1);
    EXPECT_EQ(proxy_->count("PUT"), 1) << "only the changed file goes up";
    EXPECT_EQ(proxy_->count("POST"), 1) << "the deleted file is deleted (DeleteObjects)";
    EXPECT_EQ(proxy_->count("HEAD") + proxy_->count("DELETE"), 0)
        << "a sync's deletions need no HEAD and no DELETE per file";
    EXPECT_EQ(bucketWorkspace(), (std::map<std::string, std::uint64_t>{
                                     {"docs/r\xC3\xA9sum\xC3\xA9 1+1.md", 8}, {"src/b.txt", 12}}));

    fs::remove_all(workspace());
    fs::create_directories(workspace());
    const auto restored = client().restore(trace_, toJson(plan()));
    EXPECT_EQ(restored["files"], 2) << restored.dump();
    EXPECT_EQ(readText(workspace() / "src" / "b.txt"), "beta, edited");
    EXPECT_EQ(readText(workspace() / "docs" / "r\xC3\xA9sum\xC3\xA9 1+1.md"), "odd name");
    EXPECT_FALSE(fs::exists(workspace() / "a.txt"));
}

TEST_F(ExecutorS3, SyncFailsWithTheStoresReasonWhileItIsDownAndSucceedsOnceItIsBack) {
    write(workspace() / "a.txt", "alpha");
    server_->stop();
    try {
        client().sync(trace_, "incremental", "test");
        FAIL() << "a sync into a store that is down succeeded";
    } catch (const ExecutorCallError& e) {
        EXPECT_EQ(e.failure().status, 424) << e.failure().message;
        EXPECT_NE(e.failure().message.find("attempt"), std::string::npos) << e.failure().message;
        EXPECT_NE(e.failure().message.find(proxy_->endpoint()), std::string::npos)
            << e.failure().message;
    }
    server_->start();
    const auto synced = client().sync(trace_, "incremental", "test");
    EXPECT_EQ(synced["uploaded_files"], 1) << synced.dump();
    EXPECT_EQ(bucketWorkspace().count("a.txt"), 1u);
}

TEST_F(ExecutorS3, ADamagedObjectFailsTheRestoreAndIsNotPutInPlace) {
    write(workspace() / "a.txt", "the real content");
    client().sync(trace_, "incremental", "test");
    {
        std::fstream file(server_->objectFile(kBucket, std::string(kPrefix) + "workspace/a.txt"),
                          std::ios::in | std::ios::out | std::ios::binary);
        file.seekp(2);
        file.put('#');
    }
    fs::remove(workspace() / "a.txt");
    try {
        client().restore(trace_, toJson(plan()));
        FAIL() << "a damaged object was restored";
    } catch (const ExecutorCallError& e) {
        EXPECT_EQ(e.failure().status, 424);
        EXPECT_NE(e.failure().message.find("checksum"), std::string::npos) << e.failure().message;
    }
    EXPECT_TRUE(fs::is_empty(workspace()));
}

}  // namespace
}  // namespace aw::test
