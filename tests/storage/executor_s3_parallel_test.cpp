// agent-executor moves a workspace of a few hundred files many requests at once (the proxy
// sees more than one in flight) and keeps its guarantees: requests that fail once are
// retried; a file whose upload keeps failing fails the sync with its name, is not claimed by
// the manifest, and goes up with the next sync; a damaged object refuses the restore and
// leaves no half-written file.
#include <nlohmann/json.hpp>

#include "executor_s3_fixture.h"

namespace aw::test {
namespace {

namespace fs = std::filesystem;

constexpr int kFiles = 300;

//! `d<i % 10>/f<iii>.txt`: ten directories, names that sort like the numbers.
std::string fileName(int i) {
    std::string number = std::to_string(i);
    number.insert(0, 3 - number.size(), '0');
    return "d" + std::to_string(i % 10) + "/f" + number + ".txt";
}

std::string content(int i, const std::string& version) {
    return "file " + std::to_string(i) + " " + version +
           std::string(static_cast<std::size_t>(i), 'x');
}

class ExecutorS3Parallel : public ExecutorS3 {
protected:
    void writeAll(const std::string& version) {
        for (int i = 0; i < kFiles; ++i) write(workspace() / fileName(i), content(i, version));
    }
    //! `METHOD /bucket/<key prefix>workspace/<name>`: the proxy's line for a file's object.
    static std::string request(const std::string& method, const std::string& name) {
        return method + " /" + kBucket + "/" + kPrefix + "workspace/" + name;
    }
    int requestsFor(const std::string& method, const std::string& name) {
        int count = 0;
        for (const auto& line : proxy_->requests()) count += line == request(method, name) ? 1 : 0;
        return count;
    }
    nlohmann::json manifest() {
        return nlohmann::json::parse(readText(dir_ / "state" / "sync-manifest.json"));
    }
    //! Every workspace file path (relative) -> its content, partial files included.
    std::map<std::string, std::string> workspaceFiles() {
        std::map<std::string, std::string> files;
        for (const auto& entry : fs::recursive_directory_iterator(workspace())) {
            if (entry.is_regular_file())
                files[fs::relative(entry.path(), workspace()).generic_string()] =
                    readText(entry.path());
        }
        return files;
    }
};

TEST_F(ExecutorS3Parallel, SyncRetriesFailuresRecordsOnlyWhatWentUpAndSendsTheRestNextTime) {
    writeAll("v1");
    const std::vector<std::string> flaky = {fileName(11), fileName(122), fileName(233)};
    for (const auto& name : flaky) proxy_->addFault(request("PUT", name), 1);
    const auto first = client().sync(trace_, "incremental", "test");
    EXPECT_EQ(first["uploaded_files"], kFiles) << first.dump();
    EXPECT_GT(proxy_->maxInFlight(), 1) << "the uploads went one at a time";
    for (const auto& name : flaky)
        EXPECT_EQ(requestsFor("PUT", name), 2) << name << ": failed once, then retried";
    EXPECT_EQ(bucketWorkspace().size(), static_cast<std::size_t>(kFiles));

    // Every file changes; one of them cannot be stored, whatever the retries.
    writeAll("version 2");
    const std::string broken = fileName(77);
    proxy_->failNext(-1, 500, request("PUT", broken));
    try {
        client().sync(trace_, "incremental", "test");
        FAIL() << "a sync whose upload keeps failing succeeded";
    } catch (const ExecutorCallError& e) {
        EXPECT_EQ(e.failure().status, 424) << e.failure().message;
        EXPECT_NE(e.failure().message.find("cannot upload " + (workspace() / broken).string()),
                  std::string::npos)
            << e.failure().message;
        EXPECT_NE(e.failure().message.find("InternalError"), std::string::npos)
            << e.failure().message;
    }
    // The manifest claims a new version only where the bucket has it.
    const auto afterFailure = manifest();
    const auto bucket = bucketWorkspace();
    int claimed = 0;
    for (int i = 0; i < kFiles; ++i) {
        const auto name = fileName(i);
        ASSERT_TRUE(afterFailure.contains(name)) << name << " was in the store and is forgotten";
        const auto size = content(i, "version 2").size();
        const bool claimsNew =
            afterFailure[name]["size"] == size && afterFailure[name]["mtime_ns"] != -1;
        if (!claimsNew) continue;
        ++claimed;
        EXPECT_EQ(bucket.at(name), size) << name << " is claimed but the store has the old one";
    }
    EXPECT_EQ(bucket.at(broken), content(77, "v1").size());
    EXPECT_LT(claimed, kFiles);

    proxy_->failNext(0);
    proxy_->clear();
    const auto retry = client().sync(trace_, "incremental", "test");
    EXPECT_EQ(retry["uploaded_files"], kFiles - claimed) << "exactly what was not recorded goes up";
    EXPECT_EQ(requestsFor("PUT", broken), 1);
    for (const auto& [name, size] : bucketWorkspace()) {
        const int i = std::stoi(name.substr(4, 3));
        EXPECT_EQ(size, content(i, "version 2").size()) << name;
    }
    proxy_->clear();
    EXPECT_EQ(client().sync(trace_, "incremental", "test")["uploaded_files"], 0);
    EXPECT_EQ(proxy_->count("PUT"), 0);
}

TEST_F(ExecutorS3Parallel, RestoreRetriesFailuresAndRefusesADamagedObjectWithoutHalfFiles) {
    writeAll("v1");
    client().sync(trace_, "incremental", "test");
    fs::remove_all(workspace());
    fs::create_directories(workspace());
    proxy_->clear();
    const std::vector<std::string> flaky = {fileName(5), fileName(150), fileName(299)};
    for (const auto& name : flaky) proxy_->addFault(request("GET", name), 1);
    const auto restored = client().restore(trace_, toJson(plan()));
    EXPECT_EQ(restored["files"], kFiles) << restored.dump();
    EXPECT_GT(proxy_->maxInFlight(), 1) << "the downloads went one at a time";
    for (const auto& name : flaky) EXPECT_EQ(requestsFor("GET", name), 2) << name;
    const auto files = workspaceFiles();
    ASSERT_EQ(files.size(), static_cast<std::size_t>(kFiles));
    for (int i = 0; i < kFiles; ++i) EXPECT_EQ(files.at(fileName(i)), content(i, "v1"));

    // One object damaged behind the store's back (same size, one byte changed).
    const std::string damaged = fileName(123);
    {
        std::fstream file(
            server_->objectFile(kBucket, std::string(kPrefix) + "workspace/" + damaged),
            std::ios::in | std::ios::out | std::ios::binary);
        file.seekp(3);
        file.put('#');
    }
    fs::remove_all(workspace());
    fs::create_directories(workspace());
    try {
        client().restore(trace_, toJson(plan()));
        FAIL() << "a damaged object was restored";
    } catch (const ExecutorCallError& e) {
        EXPECT_EQ(e.failure().status, 424);
        EXPECT_NE(e.failure().message.find("checksum"), std::string::npos) << e.failure().message;
        EXPECT_NE(e.failure().message.find("workspace/" + damaged), std::string::npos)
            << e.failure().message;
    }
    // Whatever was written is whole: no partial file, nothing of the damaged object.
    for (const auto& [name, text] : workspaceFiles()) {
        EXPECT_EQ(name.find(".aw-partial-"), std::string::npos) << name << " was left behind";
        ASSERT_NE(name, damaged);
        EXPECT_EQ(text, content(std::stoi(name.substr(4, 3)), "v1")) << name;
    }
}

}  // namespace
}  // namespace aw::test
