// The s3 store when the service fails: a missing bucket and wrong credentials are final
// (one request, an error that says what to fix, no secret in it); 5xx answers are retried
// with the backoff and then succeed or give up; a service that is down is a network error
// after the retries, and works again once it is back; one that never answers times out.
#include <gtest/gtest.h>

#include <Poco/Net/ServerSocket.h>

#include "storage/s3_object_store.h"
#include "support/s3_fault_proxy.h"
#include "support/s3_server.h"

namespace aw::test {
namespace {

constexpr const char* kBucket = "aw-test";

class S3Failures : public ::testing::Test {
protected:
    void SetUp() override {
        try {
            server_ = std::make_unique<S3Server>();
        } catch (const std::exception& e) {
            FAIL() << "cannot start the S3 test server: " << e.what();
        }
        server_->createBucket(kBucket);
        proxy_ = std::make_unique<S3FaultProxy>(server_->port());
    }

    S3Settings viaProxy(const std::string& bucket = kBucket) {
        auto settings = server_->settings(bucket);
        settings.endpoint = proxy_->endpoint();
        return settings;
    }

    std::unique_ptr<S3Server> server_;
    std::unique_ptr<S3FaultProxy> proxy_;
};

TEST_F(S3Failures, MissingBucketSaysSoAtOnce) {
    S3ObjectStore s3(viaProxy("no-such-bucket"));
    try {
        s3.put("no-such-bucket/a.txt", "x");
        FAIL() << "a put into a missing bucket succeeded";
    } catch (const S3Error& e) {
        EXPECT_EQ(e.problem().code, "object_store_bucket_missing");
        EXPECT_NE(e.problem().message.find("bucket no-such-bucket does not exist at " +
                                           proxy_->endpoint()),
                  std::string::npos)
            << e.problem().message;
        EXPECT_EQ(e.problem().hint, "create it or set object_store.bucket");
        EXPECT_EQ(e.status(), 404);
        EXPECT_EQ(e.attempts(), 1);
    }
    EXPECT_EQ(proxy_->requests().size(), 1u) << "a 4xx is never retried";
    try {
        s3.checkBucket();
        FAIL() << "checkBucket passed for a missing bucket";
    } catch (const S3Error& e) {
        EXPECT_EQ(e.problem().code, "object_store_bucket_missing");
    }
    S3ObjectStore(viaProxy()).checkBucket();  // the existing one passes
}

// s3rver checks the access key id but does not verify SigV4 signatures (its authentication
// leaves "Signature version 4 calculation" unimplemented): an unknown key is what it refuses,
// and a wrong secret is refused by the proxy, which checks signatures as S3 does.
TEST_F(S3Failures, WrongSecretFailsTheSignatureWithoutRetryOrSecret) {
    proxy_->verifySignatures(S3Server::kAccessKey, S3Server::kSecretKey);
    auto settings = viaProxy();
    settings.credentials.secretAccessKey = "wrong-secret-9f3a";
    try {
        S3ObjectStore(settings).put("aw-test/a.txt", "x");
        FAIL() << "a put with a wrong secret succeeded";
    } catch (const S3Error& e) {
        EXPECT_EQ(e.problem().code, "object_store_access_denied");
        EXPECT_EQ(e.status(), 403);
        EXPECT_EQ(e.attempts(), 1);
        EXPECT_NE(e.problem().message.find("SignatureDoesNotMatch"), std::string::npos)
            << e.problem().message;
        EXPECT_EQ((e.problem().message + e.problem().hint).find("wrong-secret-9f3a"),
                  std::string::npos);
    }
    EXPECT_EQ(proxy_->requests().size(), 1u);
    S3ObjectStore(viaProxy()).put("aw-test/a.txt", "x");  // the right secret passes the check
    EXPECT_EQ(proxy_->verified(), 1);
}

TEST_F(S3Failures, WrongCredentialsAreRefusedWithoutRetryOrSecret) {
    auto settings = viaProxy();
    settings.credentials = {"NOT-A-KEY-7c1d", "wrong-secret-9f3a", "session-token-55e2"};
    S3ObjectStore s3(settings);
    try {
        s3.put("aw-test/a.txt", "x");
        FAIL() << "a put with wrong credentials succeeded";
    } catch (const S3Error& e) {
        EXPECT_EQ(e.problem().code, "object_store_access_denied");
        EXPECT_EQ(e.status(), 403);
        EXPECT_EQ(e.attempts(), 1);
        EXPECT_NE(e.problem().message.find("InvalidAccessKeyId"), std::string::npos)
            << e.problem().message;
        EXPECT_NE(e.problem().hint.find("AWS_SECRET_ACCESS_KEY"), std::string::npos);
        const std::string all = e.problem().message + e.problem().hint;
        for (const char* secret : {"wrong-secret-9f3a", "session-token-55e2"}) {
            EXPECT_EQ(all.find(secret), std::string::npos) << "a secret leaked: " << all;
        }
    }
    EXPECT_EQ(proxy_->requests().size(), 1u);
    EXPECT_THROW(s3.checkBucket(), S3Error);
}

TEST_F(S3Failures, ServerErrorsAreRetriedThenSucceed) {
    S3ObjectStore s3(viaProxy());
    proxy_->failNext(2, 500);
    s3.put("aw-test/a.txt", "after two failures");
    EXPECT_EQ(proxy_->count("PUT"), 3) << "two 500s, then the put that went through";
    EXPECT_EQ(S3ObjectStore(server_->settings(kBucket)).get("aw-test/a.txt"), "after two failures");

    proxy_->clear();
    proxy_->failNext(1, 503);
    EXPECT_EQ(s3.list("aw-test/").size(), 1u) << "a list is retried the same way";
    EXPECT_EQ(proxy_->count("GET"), 2);
}

TEST_F(S3Failures, PersistentServerErrorsGiveUpAfterTheAttempts) {
    S3ObjectStore s3(viaProxy());  // 3 attempts
    proxy_->failNext(100, 500);
    try {
        s3.put("aw-test/a.txt", "x");
        FAIL() << "a put against a failing service succeeded";
    } catch (const S3Error& e) {
        EXPECT_EQ(e.problem().code, "object_store_unavailable");
        EXPECT_EQ(e.kind(), CallFailureKind::Http);
        EXPECT_EQ(e.status(), 500);
        EXPECT_EQ(e.attempts(), 3);
        EXPECT_NE(e.problem().message.find("InternalError"), std::string::npos)
            << e.problem().message;
    }
    EXPECT_EQ(proxy_->count("PUT"), 3);
}

TEST_F(S3Failures, ServiceDownIsANetworkErrorAfterRetriesAndRecovers) {
    S3ObjectStore s3(server_->settings(kBucket));
    server_->stop();
    const auto started = std::chrono::steady_clock::now();
    try {
        s3.put("aw-test/a.txt", "x");
        FAIL() << "a put against a stopped service succeeded";
    } catch (const S3Error& e) {
        EXPECT_EQ(e.problem().code, "object_store_unavailable");
        EXPECT_EQ(e.kind(), CallFailureKind::Network);
        EXPECT_EQ(e.attempts(), 3);
        EXPECT_NE(e.problem().message.find(server_->endpoint()), std::string::npos)
            << e.problem().message;
    }
    // Two backoffs of 50 and 100 ms (+-20%) were waited.
    EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(110));
    server_->start();
    s3.put("aw-test/a.txt", "back");
    EXPECT_EQ(s3.get("aw-test/a.txt"), "back");
}

TEST_F(S3Failures, AServiceThatNeverAnswersTimesOutAndIsRetried) {
    // Connections are taken (the kernel's backlog) but never answered.
    Poco::Net::ServerSocket silent(Poco::Net::SocketAddress("127.0.0.1", 0));
    auto settings = server_->settings(kBucket);
    settings.endpoint = "http://127.0.0.1:" + std::to_string(silent.address().port());
    settings.stallTimeout = std::chrono::milliseconds(1000);
    const auto started = std::chrono::steady_clock::now();
    try {
        S3ObjectStore(settings).put("aw-test/a.txt", "x");
        FAIL() << "a put to a silent service succeeded";
    } catch (const S3Error& e) {
        EXPECT_EQ(e.problem().code, "object_store_unavailable");
        EXPECT_EQ(e.kind(), CallFailureKind::Timeout) << e.problem().message;
        EXPECT_EQ(e.attempts(), 3);
    }
    EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::seconds(3))
        << "each attempt waited for the stall timeout";
}

}  // namespace
}  // namespace aw::test
