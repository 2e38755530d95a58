#include <gtest/gtest.h>

#include "agent_worker/core/retry_policy.h"

namespace aw {
namespace {

TEST(RetryPolicy, ServerErrorsTimeoutsAndNetworkErrorsAreRetriedUpToTheLimit) {
    const RetryPolicy policy{3, std::chrono::milliseconds(100), std::chrono::milliseconds(1000), {500, 503}};
    EXPECT_TRUE(policy.shouldRetry(CallFailureKind::Http, 503, 1));
    EXPECT_TRUE(policy.shouldRetry(CallFailureKind::Timeout, std::nullopt, 2));
    EXPECT_TRUE(policy.shouldRetry(CallFailureKind::Network, std::nullopt, 1));
    EXPECT_FALSE(policy.shouldRetry(CallFailureKind::Network, std::nullopt, 3)) << "limit reached";
    EXPECT_FALSE(policy.shouldRetry(CallFailureKind::Http, 502, 1)) << "502 not in the list";
}

TEST(RetryPolicy, ClientErrorsAreNeverRetried) {
    RetryPolicy policy;
    for (int status : {400, 401, 403, 404, 409, 413, 422, 429}) {
        EXPECT_FALSE(policy.shouldRetry(CallFailureKind::Http, status, 1)) << status;
    }
    policy.retryStatuses = {500, 429};
    ASSERT_TRUE(policy.check().has_value()) << "a 4xx in the list is a configuration error";
    EXPECT_NE(policy.check()->message.find("429"), std::string::npos);
}

TEST(RetryPolicy, BackoffDoublesIsCappedAndJitteredEitherWay) {
    // The band is the one Backoff's: +-20% around the doubled, capped wait (until the
    // shared Backoff it was +0..20%, never below the doubled wait).
    const RetryPolicy policy{5, std::chrono::milliseconds(100), std::chrono::milliseconds(300), {500}};
    EXPECT_EQ(policy.backoffAfter(1, 0.5).count(), 100);
    EXPECT_EQ(policy.backoffAfter(2, 0.5).count(), 200);
    EXPECT_EQ(policy.backoffAfter(3, 0.5).count(), 300);
    EXPECT_EQ(policy.backoffAfter(9, 0.5).count(), 300);
    EXPECT_EQ(policy.backoffAfter(1, 0.0).count(), 80);
    EXPECT_EQ(policy.backoffAfter(1, 1.0).count(), 120);
    EXPECT_LE(policy.backoffAfter(3, 0.999).count(), 360);
    EXPECT_GE(policy.backoffAfter(3, 0.0).count(), 240);
}

TEST(RetryPolicy, FailuresBecomeOneErrorShape) {
    const ExecutorCallError error({CallFailureKind::Http, 503, "busy", 3, "workspace.sync"});
    EXPECT_EQ(error.problem().code, "executor_http");
    EXPECT_NE(error.problem().message.find("workspace.sync failed after 3 attempts (http 503): busy"),
              std::string::npos);
    EXPECT_EQ(ExecutorCallError({CallFailureKind::Timeout, {}, "t", 1, "runs.start"}).problem().code,
              "executor_timeout");
}

}  // namespace
}  // namespace aw
