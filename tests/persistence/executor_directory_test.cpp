// Where the swarm workers' executors are, shared through the database (SociExecutorDirectory)
// as replicas of agent-host on separate machines share it, on SQLite and a real PostgreSQL:
// what one host records the others read; a bootstrap token is redeemed once, by one host,
// even when several present it at once; and from the wrong side, a wrong, used, revoked or
// superseded token redeems nothing and records no address. The hosts' derived tokens
// (derivedToken) agree where the secret does, and nothing else.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "db/database.h"
#include "db/soci_executor_directory.h"
#include "persistence/shared_database_test_base.h"

namespace aw {
namespace {

using namespace std::chrono_literals;

//! One host's view: its own connection pool and directory.
struct Host {
    explicit Host(const std::string& url) : database(parseDatabaseUrl(url), 4, 10s), directory(database) {}
    Database database;
    SociExecutorDirectory directory;
};

class SharedExecutorDirectory : public test::SharedDatabaseTest<Host> {
protected:
    SharedExecutorDirectory() : SharedDatabaseTest("executordirectory") {}
};

TEST_P(SharedExecutorDirectory, WhatOneHostRecordsTheOthersRead) {
    auto a = host(), b = host();
    const auto made = a->directory.ensure("chat-1", "nonce-a");
    EXPECT_EQ(made.nonce, "nonce-a");
    EXPECT_EQ(made.address, "");
    // B ensuring it too keeps A's nonce: both derive the same tokens.
    EXPECT_EQ(b->directory.ensure("chat-1", "nonce-b").nonce, "nonce-a");

    a->directory.expectBootstrap("chat-1", tokenDigest("boot-1"));
    EXPECT_EQ(b->directory.redeem(tokenDigest("boot-1"), "127.0.0.1:4100"), "chat-1");
    EXPECT_EQ(a->directory.find("chat-1")->address, "127.0.0.1:4100");

    b->directory.forget("chat-1");  // B stopped the worker
    EXPECT_EQ(a->directory.find("chat-1")->address, "");
    EXPECT_EQ(a->directory.find("chat-1")->nonce, "nonce-a") << "a stop keeps the tokens";

    a->directory.erase("chat-1");  // A removed it
    EXPECT_FALSE(b->directory.find("chat-1").has_value());
    EXPECT_FALSE(b->directory.find("chat-2").has_value());
}

TEST_P(SharedExecutorDirectory, ABootstrapIsRedeemedOnceAndOnlyWhilePending) {
    auto a = host(), b = host();
    a->directory.ensure("chat-1", "n1");
    a->directory.ensure("chat-2", "n2");
    a->directory.expectBootstrap("chat-1", tokenDigest("boot-1"));
    a->directory.expectBootstrap("chat-2", tokenDigest("boot-2"));

    EXPECT_FALSE(b->directory.redeem(tokenDigest("boot-"), "127.0.0.1:1").has_value());
    EXPECT_FALSE(b->directory.redeem(tokenDigest(""), "127.0.0.1:1").has_value());
    EXPECT_EQ(b->directory.redeem(tokenDigest("boot-1"), "127.0.0.1:4101"), "chat-1");
    EXPECT_FALSE(a->directory.redeem(tokenDigest("boot-1"), "127.0.0.1:1").has_value())
        << "a used token redeemed again";
    EXPECT_EQ(a->directory.find("chat-1")->address, "127.0.0.1:4101");

    // A new start supersedes the pending token; a stop revokes it.
    a->directory.expectBootstrap("chat-2", tokenDigest("boot-2-again"));
    EXPECT_FALSE(b->directory.redeem(tokenDigest("boot-2"), "127.0.0.1:1").has_value());
    a->directory.forget("chat-2");
    EXPECT_FALSE(b->directory.redeem(tokenDigest("boot-2-again"), "127.0.0.1:1").has_value());
    EXPECT_EQ(a->directory.find("chat-2")->address, "");
}

TEST_P(SharedExecutorDirectory, ATokenPresentedOnManyHostsAtOnceIsRedeemedOnce) {
    std::vector<std::unique_ptr<Host>> hosts;
    for (int i = 0; i < 4; ++i) hosts.push_back(host());
    hosts[0]->directory.ensure("chat-1", "n1");
    for (int round = 0; round < 10; ++round) {
        const std::string token = "boot-" + std::to_string(round);
        hosts[0]->directory.expectBootstrap("chat-1", tokenDigest(token));
        std::atomic<int> granted{0};
        std::vector<std::thread> presenters;
        for (int i = 0; i < 4; ++i) {
            presenters.emplace_back([&, i] {
                if (hosts[static_cast<std::size_t>(i)]->directory.redeem(
                        tokenDigest(token), "127.0.0.1:" + std::to_string(5000 + i)))
                    ++granted;
            });
        }
        for (auto& presenter : presenters) presenter.join();
        EXPECT_EQ(granted.load(), 1) << "round " << round;
    }
}

TEST_P(SharedExecutorDirectory, TheFirstHostsSecretFingerprintIsTheClusters) {
    auto a = host(), b = host();
    EXPECT_EQ(a->directory.adoptSecretFingerprint("fingerprint-a"), "fingerprint-a");
    EXPECT_EQ(b->directory.adoptSecretFingerprint("fingerprint-b"), "fingerprint-a");
    EXPECT_EQ(a->directory.adoptSecretFingerprint("fingerprint-a"), "fingerprint-a");
}

INSTANTIATE_TEST_SUITE_P(Dialects, SharedExecutorDirectory,
                         ::testing::Values(Dialect::Sqlite, Dialect::Postgresql),
                         test::dialectName);

TEST(DerivedToken, IsHmacSha256AndAgreesOnlyWhereTheSecretDoes) {
    // RFC 4231, test case 2.
    EXPECT_EQ(derivedToken("Jefe", "what do ya want for nothing?"),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    // RFC 4231, test case 6: a key longer than a block is hashed first.
    EXPECT_EQ(derivedToken(std::string(131, '\xaa'),
                           "Test Using Larger Than Block-Size Key - Hash Key First"),
              "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    EXPECT_EQ(derivedToken("secret", "executor\nchat-1\nn1"),
              derivedToken("secret", "executor\nchat-1\nn1"));
    EXPECT_NE(derivedToken("secret", "executor\nchat-1\nn1"),
              derivedToken("secreT", "executor\nchat-1\nn1"));
    EXPECT_NE(derivedToken("secret", "executor\nchat-1\nn1"),
              derivedToken("secret", "callback\nchat-1\nn1"));
}

}  // namespace
}  // namespace aw
