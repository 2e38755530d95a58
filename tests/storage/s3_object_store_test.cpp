// The s3 object store against a real S3-compatible server (s3rver, started per test): round
// trips of small, empty, odd-named and multipart objects (a failed part aborts the upload),
// listing past one page, prefix removal, missing objects, and a damaged object refused on
// restore. Requests go through a proxy that checks their signatures as S3 would; what the
// bucket holds is checked with rclone, not with the store's own list.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <random>
#include <thread>

#include "storage/s3_object_store.h"
#include "support/s3_fault_proxy.h"
#include "support/s3_server.h"
#include "support/temp_dir.h"

namespace aw::test {
namespace {

namespace fs = std::filesystem;

constexpr const char* kBucket = "aw-test";

class S3Store : public ::testing::Test {
protected:
    void SetUp() override {
        try {
            server_ = std::make_unique<S3Server>();
        } catch (const std::exception& e) {
            FAIL() << "cannot start the S3 test server: " << e.what();
        }
        server_->createBucket(kBucket);
    }

    S3ObjectStore store(S3Settings settings) { return S3ObjectStore(std::move(settings)); }
    S3ObjectStore store() { return store(server_->settings(kBucket)); }
    //! Settings through a proxy that checks every signature as S3 would (s3rver does not).
    S3Settings verified(S3FaultProxy& proxy) {
        proxy.verifySignatures(S3Server::kAccessKey, S3Server::kSecretKey);
        auto settings = server_->settings(kBucket);
        settings.endpoint = proxy.endpoint();
        return settings;
    }

    std::string randomBytes(std::size_t size) {
        std::mt19937_64 generator(42);
        std::string bytes(size, '\0');
        for (auto& byte : bytes) byte = static_cast<char>(generator());
        return bytes;
    }

    std::unique_ptr<S3Server> server_;
    TempDir dir_{"aw-s3t"};
};

TEST_F(S3Store, SmallEmptyAndOddlyNamedObjectsRoundTrip) {
    S3FaultProxy proxy(server_->port());
    auto settings = verified(proxy);
    settings.credentials.sessionToken = "a-session-token";  // signed along (x-amz-security-token)
    auto s3 = store(settings);
    const std::string odd = "aw-test/ws/with space/\xC3\xA9t\xC3\xA9 + plus & amp=eq?.txt";
    s3.put("aw-test/ws/a.txt", "alpha");
    s3.put("aw-test/ws/empty", "");
    s3.put(odd, "odd");
    EXPECT_EQ(s3.get("aw-test/ws/a.txt"), "alpha");
    EXPECT_EQ(s3.get("aw-test/ws/empty"), "");
    EXPECT_EQ(s3.get(odd), "odd");

    const auto script = dir_.write("run.sh", "#!/bin/sh\necho hi\n");
    fs::permissions(script, fs::perms::owner_all | fs::perms::group_read);
    s3.putFile("aw-test/ws/bin/run.sh", script.string());
    ASSERT_TRUE(s3.getFile("aw-test/ws/bin/run.sh", (dir_ / "back" / "run.sh").string()));
    EXPECT_EQ(readText(dir_ / "back" / "run.sh"), "#!/bin/sh\necho hi\n");
    EXPECT_TRUE((fs::status(dir_ / "back" / "run.sh").permissions() & fs::perms::owner_exec) !=
                fs::perms::none)
        << "an executable comes back executable";

    const auto listed = s3.list("aw-test/ws/");
    std::vector<std::string> keys;
    for (const auto& object : listed) keys.push_back(object.key);
    EXPECT_EQ(keys, (std::vector<std::string>{"aw-test/ws/a.txt", "aw-test/ws/bin/run.sh",
                                              "aw-test/ws/empty", odd}));
    EXPECT_EQ(listed[0].size, 5u);
    EXPECT_GT(listed[0].modifiedMs, 1700000000000);

    // An independent client sees the same keys, unmangled by our encoding.
    const auto seen = server_->rcloneList(kBucket, "ws/");
    EXPECT_EQ(seen.size(), 4u);
    EXPECT_EQ(seen.count("ws/with space/\xC3\xA9t\xC3\xA9 + plus & amp=eq?.txt"), 1u);
    EXPECT_EQ(seen.at("ws/a.txt"), 5u);
    EXPECT_EQ(seen.at("ws/empty"), 0u);
    EXPECT_EQ(proxy.verified(), static_cast<int>(proxy.requests().size()))
        << "every signature held";
}

TEST_F(S3Store, LargeFileGoesUpInPartsAndComesBackIdentical) {
    S3FaultProxy proxy(server_->port());
    auto settings = verified(proxy);
    settings.multipartThreshold = 1024 * 1024;  // 20 MiB: parts of 8, 8 and 4 MiB
    auto s3 = store(settings);
    const std::string bytes = randomBytes(20 * 1024 * 1024);
    const auto source = dir_.write("big.bin", bytes);
    s3.putFile("aw-test/ws/big.bin", source.string());

    int creates = 0, parts = 0, completes = 0;
    for (const auto& request : proxy.requests()) {
        creates += request.find("?uploads=") != std::string::npos;
        parts += request.rfind("PUT ", 0) == 0 && request.find("partNumber=") != std::string::npos;
        completes +=
            request.rfind("POST ", 0) == 0 && request.find("uploadId=") != std::string::npos;
    }
    EXPECT_EQ(creates, 1);
    EXPECT_EQ(parts, 3);
    EXPECT_EQ(completes, 1);
    EXPECT_EQ(server_->rcloneList(kBucket, "ws/").at("ws/big.bin"), bytes.size());

    ASSERT_TRUE(s3.getFile("aw-test/ws/big.bin", (dir_ / "restored.bin").string()));
    EXPECT_TRUE(readText(dir_ / "restored.bin") == bytes) << "the restored file differs";
    EXPECT_EQ(proxy.verified(), static_cast<int>(proxy.requests().size()))
        << "every signature held";
}

TEST_F(S3Store, AFailedPartAbortsTheUploadAndStoresNothing) {
    S3FaultProxy proxy(server_->port());
    auto settings = verified(proxy);
    settings.multipartThreshold = 1024 * 1024;
    auto s3 = store(settings);
    const auto source = dir_.write("big.bin", randomBytes(9 * 1024 * 1024));  // parts of 8 + 1 MiB
    proxy.failNext(100, 503, "partNumber=2&");  // the second part never goes through
    try {
        s3.putFile("aw-test/ws/big.bin", source.string());
        FAIL() << "an upload whose part failed succeeded";
    } catch (const S3Error& e) {
        EXPECT_EQ(e.problem().code, "object_store_unavailable");
        EXPECT_NE(e.problem().message.find("UploadPart"), std::string::npos) << e.problem().message;
        EXPECT_EQ(e.attempts(), 3);
    }
    const auto requests = proxy.requests();
    ASSERT_FALSE(requests.empty());
    EXPECT_EQ(requests.back().rfind("DELETE ", 0), 0u)
        << "the upload is aborted: " << requests.back();
    EXPECT_NE(requests.back().find("uploadId="), std::string::npos) << requests.back();
    EXPECT_TRUE(server_->rcloneList(kBucket).empty()) << "no object was made";
    EXPECT_FALSE(s3.get("aw-test/ws/big.bin").has_value());
}

TEST_F(S3Store, ListingPagesPastAThousandKeysAndRemovePrefixTakesThemAll) {
    auto s3 = store();
    constexpr int kKeys = 1100;
    std::vector<std::thread> writers;
    for (int t = 0; t < 4; ++t) {
        writers.emplace_back([&, t] {
            auto own = store();
            for (int i = t; i < kKeys; i += 4)
                own.put("aw-test/many/k" + std::to_string(10000 + i), "x");
        });
    }
    for (auto& writer : writers) writer.join();
    s3.put("aw-test/other/keep.txt", "keep");

    S3FaultProxy proxy(server_->port());
    auto counted = store(verified(proxy));
    const auto listed = counted.list("aw-test/many/");
    ASSERT_EQ(listed.size(), static_cast<std::size_t>(kKeys));
    EXPECT_EQ(listed.front().key, "aw-test/many/k10000");
    EXPECT_EQ(listed.back().key, "aw-test/many/k" + std::to_string(10000 + kKeys - 1));
    EXPECT_TRUE(
        std::is_sorted(listed.begin(), listed.end(),
                       [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; }));
    EXPECT_EQ(proxy.count("GET"), 2) << "two pages: 1000 + 100, the second by continuation token";

    EXPECT_EQ(counted.removePrefix("aw-test/many/"), static_cast<std::size_t>(kKeys));
    EXPECT_EQ(proxy.verified(), static_cast<int>(proxy.requests().size()))
        << "every signature held";
    EXPECT_TRUE(s3.list("aw-test/many/").empty());
    const auto left = server_->rcloneList(kBucket);
    EXPECT_EQ(left.size(), 1u) << "only the object outside the prefix is left";
    EXPECT_EQ(left.count("other/keep.txt"), 1u);
}

TEST_F(S3Store, MissingObjectsAreNoErrors) {
    auto s3 = store();
    EXPECT_FALSE(s3.get("aw-test/nothing.txt").has_value());
    EXPECT_FALSE(s3.getFile("aw-test/nothing.txt", (dir_ / "out" / "nothing.txt").string()));
    EXPECT_FALSE(fs::exists(dir_ / "out" / "nothing.txt"));
    EXPECT_TRUE(fs::is_empty(dir_ / "out")) << "no partial file left behind";
    EXPECT_FALSE(s3.remove("aw-test/nothing.txt"));
    s3.put("aw-test/there.txt", "x");
    EXPECT_TRUE(s3.remove("aw-test/there.txt"));
    EXPECT_FALSE(s3.get("aw-test/there.txt").has_value());
    EXPECT_EQ(s3.removePrefix("aw-test/none/"), 0u);
}

TEST_F(S3Store, RemoveManyDeletesInOneRequestWithoutHeads) {
    auto s3 = store();
    for (const char* name : {"a.txt", "b/c.txt", "keep.txt"})
        s3.put(std::string("aw-test/ws/") + name, "x");
    S3FaultProxy proxy(server_->port());
    auto counted = store(verified(proxy));
    EXPECT_THROW(counted.removeMany({"aw-test/ws/a.txt", "aw-test/../x"}), ProblemError);
    EXPECT_TRUE(proxy.requests().empty()) << "an unsafe key is refused before any request";
    counted.removeMany({"aw-test/ws/a.txt", "aw-test/ws/b/c.txt", "aw-test/ws/never-was.txt"});
    EXPECT_EQ(proxy.requests(), std::vector<std::string>{"POST /aw-test?delete="});
    EXPECT_EQ(proxy.verified(), 1);
    const auto left = server_->rcloneList(kBucket);
    EXPECT_EQ(left.size(), 1u);
    EXPECT_EQ(left.count("ws/keep.txt"), 1u);
    counted.removeMany({});
    EXPECT_EQ(proxy.requests().size(), 1u) << "nothing to remove sends nothing";
}

TEST_F(S3Store, OneStoreServesManyThreadsAtOnce) {
    S3FaultProxy proxy(server_->port());
    auto s3 = store(verified(proxy));
    ASSERT_EQ(s3.parallelTransfers(), 8u);
    constexpr int kThreads = 8, kEach = 25;
    for (const char* dir : {"up", "down"}) fs::create_directories(dir_ / dir);
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < kEach; ++i) {
                const std::string name = "t" + std::to_string(t) + "/f" + std::to_string(i);
                try {
                    const auto source = dir_.write("up/" + name, "content of " + name);
                    s3.putFile("aw-test/par/" + name, source.string());
                    const auto copy = dir_ / "down" / name;
                    if (!s3.getFile("aw-test/par/" + name, copy.string()) ||
                        readText(copy) != "content of " + name) {
                        ++failures;
                    }
                } catch (const std::exception&) {
                    ++failures;
                }
            }
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(failures, 0);
    EXPECT_GT(proxy.maxInFlight(), 1);
    EXPECT_EQ(proxy.verified(), 2 * kThreads * kEach) << "every signature held";
    EXPECT_EQ(server_->rcloneList(kBucket, "par/").size(),
              static_cast<std::size_t>(kThreads * kEach));
}

TEST_F(S3Store, KeysOutsideTheBucketOrUnsafeAreRefused) {
    auto s3 = store();
    for (const std::string key : {"other-bucket/a.txt", "aw-test/../x", "aw-test", "/aw-test/a"}) {
        try {
            s3.put(key, "x");
            ADD_FAILURE() << key << " was accepted";
        } catch (const ProblemError& e) {
            EXPECT_EQ(e.problem().code, "invalid_object_key") << key;
        }
    }
    EXPECT_TRUE(s3.list("other-bucket/").empty());
}

TEST_F(S3Store, DamagedObjectIsRefusedOnRestore) {
    auto s3 = store();
    const auto source = dir_.write("notes.txt", "the real content");
    s3.putFile("aw-test/ws/notes.txt", source.string());
    // Damage the stored copy behind the server's back: same size, one byte flipped.
    const auto stored = server_->objectFile(kBucket, "ws/notes.txt");
    ASSERT_TRUE(fs::exists(stored)) << stored;
    {
        std::fstream file(stored, std::ios::in | std::ios::out | std::ios::binary);
        file.seekp(4);
        file.put('X');
    }
    fs::create_directories(dir_ / "restore");
    try {
        s3.getFile("aw-test/ws/notes.txt", (dir_ / "restore" / "notes.txt").string());
        FAIL() << "a damaged object was restored";
    } catch (const ProblemError& e) {
        EXPECT_EQ(e.problem().code, "object_corrupt");
        EXPECT_NE(e.problem().message.find("ws/notes.txt"), std::string::npos)
            << e.problem().message;
    }
    EXPECT_TRUE(fs::is_empty(dir_ / "restore")) << "nothing of it is put in place";
    EXPECT_THROW(s3.get("aw-test/ws/notes.txt"), ProblemError);
}

}  // namespace
}  // namespace aw::test
