// object_store.* for the s3 store: the keys and the AWS_* credentials reach its settings, a
// store that cannot work is refused at start with what to set, and the credentials never
// show in the effective configuration.
#include <gtest/gtest.h>

#include "config/host_config.h"

namespace aw {
namespace {

ConfigSources s3Sources(std::map<std::string, std::string> env) {
    env.emplace("AW_OBJECT_STORE_KIND", "s3");
    env.emplace("AW_OBJECT_STORE_ENDPOINT", "http://127.0.0.1:9000");
    return {"", std::move(env), {}, "/opt/aw/bin/"};
}

TEST(S3Config, KeysAndCredentialsMakeTheStoresSettings) {
    const auto config = loadHostConfig(s3Sources({{"AW_OBJECT_STORE_REGION", "eu-west-3"},
                                                  {"AW_OBJECT_STORE_PATH_STYLE", "false"},
                                                  {"AW_OBJECT_STORE_BUCKET", "workspaces"},
                                                  {"AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"},
                                                  {"AWS_SECRET_ACCESS_KEY", "secret-f00d"},
                                                  {"AWS_SESSION_TOKEN", "token-beef"}}));
    EXPECT_EQ(config.objectStoreKind, "s3");
    EXPECT_EQ(config.s3.endpoint, "http://127.0.0.1:9000");
    EXPECT_EQ(config.s3.region, "eu-west-3");
    EXPECT_FALSE(config.s3.pathStyle);
    EXPECT_EQ(config.s3.bucket, "workspaces");
    EXPECT_EQ(config.s3.credentials.secretAccessKey, "secret-f00d");
    EXPECT_EQ(config.s3.credentials.sessionToken, "token-beef");
    const std::string shown = config.redactedJson();
    for (const char* secret : {"secret-f00d", "token-beef", "AKIDEXAMPLE"}) {
        EXPECT_EQ(shown.find(secret), std::string::npos) << shown;
    }
    EXPECT_NE(shown.find("\"kind\":\"s3\""), std::string::npos) << shown;
}

TEST(S3Config, AnS3StoreThatCannotWorkIsRefusedSayingWhatToSet) {
    auto codeAndMessage = [](const ConfigSources& sources) {
        try {
            loadHostConfig(sources);
        } catch (const ProblemError& e) {
            return e.problem().code + ": " + e.problem().message;
        }
        return std::string("accepted");
    };
    const auto noCredentials = codeAndMessage(s3Sources({}));
    EXPECT_NE(noCredentials.find("AWS_ACCESS_KEY_ID"), std::string::npos) << noCredentials;
    const auto noEndpoint = codeAndMessage(s3Sources({{"AW_OBJECT_STORE_ENDPOINT", ""},
                                                      {"AWS_ACCESS_KEY_ID", "a"},
                                                      {"AWS_SECRET_ACCESS_KEY", "b"}}));
    EXPECT_NE(noEndpoint.find("object_store.endpoint"), std::string::npos) << noEndpoint;
    const auto badKind = codeAndMessage({"", {{"AW_OBJECT_STORE_KIND", "ftp"}}, {}, ""});
    EXPECT_NE(badKind.find("expected file or s3"), std::string::npos) << badKind;
    const auto lineBreak = codeAndMessage(
        s3Sources({{"AWS_ACCESS_KEY_ID", "a"}, {"AWS_SECRET_ACCESS_KEY", "b\nsmuggled-line"}}));
    EXPECT_NE(lineBreak.find("line break"), std::string::npos) << lineBreak;
    EXPECT_EQ(lineBreak.find("smuggled-line"), std::string::npos) << "the secret is not repeated";
    // The file store (the default) needs none of it.
    EXPECT_EQ(loadHostConfig({"", {}, {}, ""}).objectStoreKind, "file");
}

}  // namespace
}  // namespace aw
