#include "runtime/executor_store_args.h"

namespace aw {

std::vector<std::string> executorStoreArguments(const std::optional<S3Settings>& s3,
                                                const std::string& objectsDir) {
    if (!s3) return {"--objects-dir", objectsDir};
    return {"--object-store", "s3",       "--s3-endpoint",   s3->endpoint,
            "--s3-region",    s3->region, "--s3-path-style", s3->pathStyle ? "true" : "false"};
}

std::string executorStdin(const std::string& executorToken, const std::string& callbackToken,
                          const std::optional<S3Settings>& s3) {
    std::string lines = executorToken + "\n" + callbackToken + "\n";
    if (s3) {
        const auto& credentials = s3->credentials;
        lines += credentials.accessKeyId + "\n" + credentials.secretAccessKey + "\n" +
                 credentials.sessionToken + "\n";
    }
    return lines;
}

}  // namespace aw
