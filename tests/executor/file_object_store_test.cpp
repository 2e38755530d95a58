// The file object store on a real directory.
#include <gtest/gtest.h>

#include <sstream>

#include "storage/file_object_store.h"
#include "support/temp_dir.h"

namespace aw {
namespace {

class FileObjectStoreTest : public ::testing::Test {
protected:
    test::TempDir dir_{"aw-objects"};
    FileObjectStore store_{dir_ / "objects"};
};

TEST_F(FileObjectStoreTest, PutGetListAndRemoveRoundTrip) {
    store_.put("bucket/root/t/s1/README.md", "# hi\n");
    store_.put("bucket/root/t/s1/src/main.cpp", "int main() {}\n");
    store_.put("bucket/root/t/s10/other.txt", "not in s1");
    EXPECT_EQ(store_.get("bucket/root/t/s1/README.md"), "# hi\n");
    EXPECT_FALSE(store_.get("bucket/root/t/s1/missing").has_value());

    const auto objects = store_.list("bucket/root/t/s1/");
    ASSERT_EQ(objects.size(), 2u) << "s10 shares the characters but not the prefix";
    EXPECT_EQ(objects[0].key, "bucket/root/t/s1/README.md");
    EXPECT_EQ(objects[0].size, 5u);
    EXPECT_GT(objects[0].modifiedMs, 0);
    EXPECT_EQ(objects[1].key, "bucket/root/t/s1/src/main.cpp");

    EXPECT_TRUE(store_.remove("bucket/root/t/s1/src/main.cpp"));
    EXPECT_FALSE(store_.remove("bucket/root/t/s1/src/main.cpp"));
    EXPECT_EQ(store_.list("bucket/root/t/s1/").size(), 1u);
    EXPECT_EQ(store_.removePrefix("bucket/root/t/"), 2u);
    EXPECT_TRUE(store_.list("bucket/").empty());
}

TEST_F(FileObjectStoreTest, FilesStreamInAndOutAndReplaceWhole) {
    const auto source = dir_.write("big.bin", std::string(3 * 1024 * 1024, 'x'));
    store_.putFile("b/k/big.bin", source.string());
    store_.put("b/k/big.bin", "small now");
    const auto target = dir_ / "out" / "copy.bin";
    ASSERT_TRUE(store_.getFile("b/k/big.bin", target.string()));
    EXPECT_EQ(test::readText(target), "small now");
    EXPECT_FALSE(store_.getFile("b/k/none", target.string()));
}

TEST_F(FileObjectStoreTest, ObjectsAndTheirDirectoriesAreTheOwnersAloneWhateverTheUmask) {
    namespace fs = std::filesystem;
    const auto script = dir_.write("run.sh", "#!/bin/sh\n");
    fs::permissions(script, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                fs::perms::others_read | fs::perms::others_exec);
    {
        const test::ScopedUmask permissive(0);
        FileObjectStore store(dir_ / "private");
        store.put("b/k/notes.md", "notes");
        store.putFile("b/k/bin/run.sh", script.string());
    }
    const auto mode = [&](const std::string& path) {  // in octal, as ls shows it
        std::ostringstream octal;
        octal << std::oct << static_cast<unsigned>(fs::status(dir_ / path).permissions());
        return octal.str();
    };
    for (const char* dir : {"private", "private/b", "private/b/k", "private/b/k/bin"}) {
        EXPECT_EQ(mode(dir), "700") << dir;
    }
    EXPECT_EQ(mode("private/b/k/notes.md"), "600");
    EXPECT_EQ(mode("private/b/k/bin/run.sh"), "700") << "an executable stays one";
}

TEST_F(FileObjectStoreTest, UnsafeKeysAreRefusedBeforeTouchingTheDisk) {
    const std::vector<std::string> unsafe{"../escape", "b/../../etc/passwd", "/abs/key", "b//double",
                                          "b/./dot", "b/back\\slash", "b/ctl\x01"};
    for (const auto& key : unsafe) {
        try {
            store_.put(key, "x");
            FAIL() << "accepted " << key;
        } catch (const ProblemError& e) {
            EXPECT_EQ(e.problem().code, "invalid_object_key") << key;
        }
    }
    EXPECT_FALSE(std::filesystem::exists(dir_ / "escape"));
    EXPECT_FALSE(checkObjectKey("b/k/", true).has_value());
    EXPECT_TRUE(checkObjectKey("b/k/", false).has_value());
}

}  // namespace
}  // namespace aw
