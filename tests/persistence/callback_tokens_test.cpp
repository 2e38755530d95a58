// The workers' callback tokens shared through the database (SociCallbackTokenRegistry), as
// replicas of agent-host share them, on SQLite and a real PostgreSQL: a token one host bound
// is known to the others, one host's revoke is every host's, and a host's older tokens never
// replace what another bound since. From the wrong side: guesses, an empty token, a revoked
// or replaced token, and another worker's token are refused.
#include <gtest/gtest.h>

#include <memory>

#include "db/database.h"
#include "db/soci_callback_tokens.h"
#include "persistence/shared_database_test_base.h"
#include "runtime/callback_tokens.h"

namespace aw {
namespace {

using namespace std::chrono_literals;

//! One host's view: its own connection pool, registry and tokens.
struct Host {
    explicit Host(const std::string& url)
        : database(parseDatabaseUrl(url), 2, 10s), registry(database) {}
    Database database;
    SociCallbackTokenRegistry registry;
    CallbackTokens tokens;
};

class SharedCallbackTokens : public test::SharedDatabaseTest<Host> {
protected:
    SharedCallbackTokens() : SharedDatabaseTest("callbacktokens") {}
};

TEST_P(SharedCallbackTokens, ATokenOneHostBoundIsKnownToTheOthers) {
    auto a = host(), b = host();
    a->tokens.share(a->registry);
    b->tokens.share(b->registry);
    a->tokens.bind("chat-1", "local-chat-1", "token-of-chat-1");
    b->tokens.bind("chat-2", "local-chat-2", "token-of-chat-2");

    for (const auto* on : {a.get(), b.get()}) {
        const auto first = on->tokens.identify("token-of-chat-1");
        ASSERT_TRUE(first.has_value());
        EXPECT_EQ(first->sessionId, "chat-1");
        EXPECT_EQ(first->executorId, "local-chat-1");
        EXPECT_FALSE(first->operatorToken);
        EXPECT_EQ(on->tokens.identify("token-of-chat-2")->sessionId, "chat-2");
        EXPECT_FALSE(on->tokens.identify("token-of-chat-").has_value());
        EXPECT_FALSE(on->tokens.identify("").has_value());
        EXPECT_FALSE(on->tokens.identify("chat-1").has_value());
    }
}

TEST_P(SharedCallbackTokens, OneHostsRevokeOrNewTokenIsEveryHosts) {
    auto a = host(), b = host();
    a->tokens.share(a->registry);
    b->tokens.share(b->registry);
    a->tokens.bind("chat-1", "local-chat-1", "first");
    a->tokens.bind("chat-2", "local-chat-2", "second");

    b->tokens.revoke("chat-1");  // B removed the worker A made
    EXPECT_FALSE(a->tokens.identify("first").has_value()) << "A still took the revoked token";
    b->tokens.bind("chat-2", "local-chat-2", "second-again");  // B made the worker anew
    EXPECT_FALSE(a->tokens.identify("second").has_value()) << "A still took the old token";
    EXPECT_EQ(a->tokens.identify("second-again")->sessionId, "chat-2");
}

TEST_P(SharedCallbackTokens, AHostsOlderTokensDoNotReplaceWhatAnotherBoundSince) {
    auto a = host(), b = host();
    // A bound chat-1 from its files before sharing; meanwhile B made the worker anew.
    a->tokens.bind("chat-1", "local-chat-1", "from-a-files");
    a->tokens.bind("chat-3", "local-chat-3", "only-a-knows");
    b->tokens.share(b->registry);
    b->tokens.bind("chat-1", "local-chat-1", "bound-by-b");
    a->tokens.share(a->registry);

    EXPECT_FALSE(b->tokens.identify("from-a-files").has_value());
    EXPECT_EQ(a->tokens.identify("bound-by-b")->sessionId, "chat-1");
    // What only A knew is shared now.
    EXPECT_EQ(b->tokens.identify("only-a-knows")->sessionId, "chat-3");
}

INSTANTIATE_TEST_SUITE_P(Dialects, SharedCallbackTokens,
                         ::testing::Values(Dialect::Sqlite, Dialect::Postgresql),
                         test::dialectName);

}  // namespace
}  // namespace aw
