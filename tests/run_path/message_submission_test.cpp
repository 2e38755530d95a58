// Step 1 of a run: a message is checked, refused with a kind, or queued.
#include <gtest/gtest.h>

#include "agent_worker/core/capabilities.h"
#include "agent_worker/core/runs/message_submission.h"
#include "run_path/run_path_doubles.h"

namespace aw {
namespace {

using testing::FakeProviderRegistry;
using testing::InMemoryRunStore;

class MessageSubmissionTest : public ::testing::Test {
protected:
    MessageSubmissionTest() {
        providers.listings = {
            {std::string("claude-code"), ProviderStatus::Healthy,
             capabilityBit("run") | capabilityBit("human_loop"), ""},
            {std::string("codex-cli"), ProviderStatus::Healthy, capabilityBit("run"), ""},
        };
    }

    static MessageRequest message(std::string provider = "claude-code") {
        MessageRequest request;
        request.sessionId = "chat-42";
        request.provider = std::move(provider);
        request.prompt = "Create hello.txt";
        return request;
    }

    RefusalKind refusalOf(const MessageRequest& request) {
        try {
            submission.submit(request, 1000);
        } catch (const Refused& refused) {
            lastProblem = refused.problem();
            return refused.kind();
        }
        ADD_FAILURE() << "the message was accepted";
        return RefusalKind::InvalidInput;
    }

    FakeProviderRegistry providers;
    InMemoryRunStore store;
    MessageSubmission submission{{{"acme", "local", "bucket", "root"}, 5}, providers, store};
    Problem lastProblem;
};

TEST_F(MessageSubmissionTest, AGoodMessageBecomesAQueuedRunWithItsWorkerPlacement) {
    auto request = message();
    request.idempotencyKey = "msg-1";
    const auto created = submission.submit(request, 1234);
    ASSERT_TRUE(created.created);
    EXPECT_EQ(created.run.runId.rfind("run_", 0), 0u);
    ASSERT_EQ(store.created.size(), 1u);
    const auto& run = store.created.front();
    EXPECT_EQ(run.tenantId, "acme");
    EXPECT_EQ(run.maxAttempts, 5);
    EXPECT_EQ(run.enqueueKey, run.runId);
    EXPECT_EQ(run.workspaceS3Prefix, "s3://bucket/root/acme/chat-42/");
    EXPECT_EQ(store.types(run.runId), std::vector<std::string>{"run.queued"});
}

TEST_F(MessageSubmissionTest, TheSameIdempotencyKeyAnswersTheFirstRun) {
    auto request = message();
    request.idempotencyKey = "msg-1";
    const auto first = submission.submit(request, 1);
    const auto again = submission.submit(request, 2);
    EXPECT_FALSE(again.created);
    EXPECT_EQ(again.run.runId, first.run.runId);
}

TEST_F(MessageSubmissionTest, BadInputIsRefusedAsInvalidInput) {
    auto badSession = message();
    badSession.sessionId = "../etc";
    EXPECT_EQ(refusalOf(badSession), RefusalKind::InvalidInput);
    auto empty = message();
    empty.prompt.clear();
    EXPECT_EQ(refusalOf(empty), RefusalKind::InvalidInput);
    EXPECT_EQ(lastProblem.code, "invalid_message");
    auto mode = message();
    mode.approvalMode = "sometimes";
    EXPECT_EQ(refusalOf(mode), RefusalKind::InvalidInput);
    EXPECT_TRUE(store.created.empty());
}

TEST_F(MessageSubmissionTest, APromptWithANulByteIsRefusedAtSubmissionWithAHint) {
    auto withNul = message();
    withNul.prompt = std::string("Create\0hello.txt", 16);
    EXPECT_EQ(refusalOf(withNul), RefusalKind::InvalidInput);
    EXPECT_EQ(lastProblem.code, "invalid_message");
    EXPECT_NE(lastProblem.message.find("NUL byte at offset 6"), std::string::npos)
        << lastProblem.message;
    EXPECT_NE(lastProblem.hint.find("remove it"), std::string::npos) << lastProblem.hint;
    EXPECT_TRUE(store.created.empty());
}

TEST_F(MessageSubmissionTest, APromptLongerThanAnArgumentIsTakenByAProviderWithLongPrompt) {
    providers.listings[0].capabilities |= capabilityBit("long_prompt");
    auto longPrompt = message();
    longPrompt.prompt.assign(200 * 1024, 'a');
    EXPECT_TRUE(submission.submit(longPrompt, 1).created);
}

TEST_F(MessageSubmissionTest, APromptLongerThanAnArgumentIsRefusedForAProviderWithoutLongPrompt) {
    providers.listings[0].capabilities |= capabilityBit("long_prompt");
    auto tooLong = message("codex-cli");
    tooLong.prompt.assign(kMaxPromptArgumentBytes + 1, 'a');
    EXPECT_EQ(refusalOf(tooLong), RefusalKind::InvalidInput);
    EXPECT_EQ(lastProblem.code, "invalid_message");
    EXPECT_NE(lastProblem.message.find("for provider 'codex-cli'"), std::string::npos)
        << lastProblem.message;
    EXPECT_NE(lastProblem.hint.find("128 KiB"), std::string::npos) << lastProblem.hint;
    EXPECT_NE(lastProblem.hint.find("takes long prompts: claude-code"), std::string::npos)
        << lastProblem.hint;
    EXPECT_TRUE(store.created.empty());

    // The longest prompt execve takes as one argument is accepted.
    auto longest = message("codex-cli");
    longest.prompt.assign(kMaxPromptArgumentBytes, 'a');
    EXPECT_TRUE(submission.submit(longest, 1).created);
}

TEST_F(MessageSubmissionTest, AnUnknownProviderIsNotFoundAndTheHintListsTheLoadedOnes) {
    EXPECT_EQ(refusalOf(message("gemini")), RefusalKind::NotFound);
    EXPECT_EQ(lastProblem.code, "unknown_provider");
    EXPECT_NE(lastProblem.hint.find("claude-code, codex-cli"), std::string::npos);
}

TEST_F(MessageSubmissionTest, WhilePluginsStartAnUnknownNameIsUnavailableNotNotFound) {
    providers.listings.push_back({std::nullopt, ProviderStatus::Starting, 0, ""});
    EXPECT_EQ(refusalOf(message("opencode")), RefusalKind::Unavailable);
    EXPECT_EQ(lastProblem.code, "provider_unavailable");
}

TEST_F(MessageSubmissionTest, ADegradedProviderIsUnavailableWithItsLastError) {
    providers.listings[0].status = ProviderStatus::Degraded;
    providers.listings[0].lastError = "signal 11";
    EXPECT_EQ(refusalOf(message()), RefusalKind::Unavailable);
    EXPECT_NE(lastProblem.message.find("degraded: signal 11"), std::string::npos);
    EXPECT_NE(lastProblem.hint.find("/admin/providers/claude-code/restart"), std::string::npos);
}

TEST_F(MessageSubmissionTest, AskingWithoutHumanLoopIsUnprocessableAndNamesProvidersThatCan) {
    auto ask = message("codex-cli");
    ask.approvalMode = "ask";
    EXPECT_EQ(refusalOf(ask), RefusalKind::Unprocessable);
    EXPECT_EQ(lastProblem.code, "capability_missing");
    EXPECT_NE(lastProblem.hint.find("claude-code"), std::string::npos);
}

TEST_F(MessageSubmissionTest, AProviderThatCannotRunIsUnprocessable) {
    providers.listings.push_back({std::string("lister"), ProviderStatus::Healthy, 0, ""});
    EXPECT_EQ(refusalOf(message("lister")), RefusalKind::Unprocessable);
}

}  // namespace
}  // namespace aw
