// One S3 request over libcurl: the URL (path or virtual-host style, keys percent-encoded),
// SigV4 by libcurl itself (CURLOPT_AWS_SIGV4), retries on 5xx, timeouts and network errors
// with the project's one retry policy, and errors that say what was wrong. Credentials go
// to libcurl only: never into a URL, a log line or an error message.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent_worker/core/retry_policy.h"

struct curl_slist;  // libcurl's header list; libcurl itself stays inside s3_transport.cpp

namespace aw {

struct S3Credentials {
    std::string accessKeyId;
    std::string secretAccessKey;
    std::string sessionToken;  //!< optional (temporary credentials)
};

struct S3Settings {
    std::string endpoint;  //!< `http://127.0.0.1:9000`, `https://s3.eu-west-1.amazonaws.com`
    std::string region = "us-east-1";
    std::string bucket;
    //! true: `endpoint/bucket/key` (MinIO, RustFS, s3rver); false: `bucket.endpoint-host/key`.
    bool pathStyle = true;
    S3Credentials credentials;
    //! Files larger than this go up as a multipart upload.
    std::uint64_t multipartThreshold = 16ULL * 1024 * 1024;
    std::uint64_t partSize = 8ULL * 1024 * 1024;  //!< S3's minimum is 5 MiB (but the last part)
    RetryPolicy retry{4, std::chrono::milliseconds(200), std::chrono::milliseconds(5000)};
    std::chrono::milliseconds connectTimeout{5000};
    //! A request moving no byte this long is cut (and retried).
    std::chrono::milliseconds stallTimeout{30000};
    //! Requests a caller may run at once (a workspace's files); the store keeps as many
    //! connections open between them.
    std::size_t transfers = 8;
};

//! A failed S3 request, once retries are exhausted or not allowed (4xx).
class S3Error : public ProblemError {
public:
    S3Error(Problem problem, CallFailureKind kind, std::optional<int> status, int attempts)
        : ProblemError(std::move(problem)), kind_(kind), status_(status), attempts_(attempts) {}
    CallFailureKind kind() const { return kind_; }
    std::optional<int> status() const { return status_; }  //!< for kind Http
    int attempts() const { return attempts_; }

private:
    CallFailureKind kind_;
    std::optional<int> status_;
    int attempts_;
};

struct S3Request {
    std::string operation;  //!< S3's name for it (`PutObject`), for messages
    std::string method = "GET";
    std::string key;  //!< the object key in the bucket; empty: the bucket itself
    std::vector<std::pair<std::string, std::string>> query;  //!< unencoded; any order
    std::vector<std::pair<std::string, std::string>> headers;
    //! The body (uploads are sent from memory: parts are at most `partSize`).
    std::string_view body;
    //! sha256 hex of the body (signed, and checked by the service); empty: computed here.
    std::string payloadSha256;
    //! A 2xx answer's body goes to this file (truncated on each attempt), not to `body`.
    std::string responseFile;
};

struct S3Response {
    int status = 0;
    std::map<std::string, std::string> headers;  //!< names lower-cased
    std::string body;                            //!< error bodies always land here
    int attempts = 0;

    std::string header(const std::string& lowerName) const;
    bool ok() const { return status >= 200 && status < 300; }
};

class CurlHandles;  // idle libcurl handles, in s3_transport.cpp

class S3Transport {
public:
    explicit S3Transport(S3Settings settings);

    //! Sends `request`, retrying 5xx, timeouts and network errors per `settings.retry`.
    //! Returns the last answer (any 2xx, 3xx or 4xx status: the caller decides what a 404
    //! means); throws S3Error when the service stays unavailable.
    S3Response send(const S3Request& request) const;
    //! The ProblemError an unexpected answer deserves: 403 credentials, 404 bucket, ...
    [[noreturn]] void fail(const S3Request& request, const S3Response& response) const;

    //! The request URL: scheme, host, bucket (by style), encoded key, canonical query.
    std::string url(const std::string& key,
                    const std::vector<std::pair<std::string, std::string>>& query) const;
    const S3Settings& settings() const { return settings_; }

private:
    //! One attempt: the answer, or the libcurl error that kept it from arriving.
    struct Outcome {
        S3Response response;
        int curlCode = 0;          //!< CURLE_OK, or what kept the answer from arriving
        bool writeFailed = false;  //!< `responseFile` could not be written
    };
    Outcome performOnce(const S3Request& request, const std::string& target,
                        curl_slist* headers) const;

    S3Settings settings_;
    //! Idle libcurl handles, up to `transfers` of them: a handle keeps its connections open,
    //! so consecutive requests (a sync's many small files) reuse them instead of connecting
    //! each time. Shared by every thread sending through this transport.
    std::shared_ptr<CurlHandles> handles_;
};

//! S3's URI encoding: every byte but A-Z a-z 0-9 - . _ ~ as %XX (upper-case hex); `/` kept
//! when `keepSlash` (object keys in a path), encoded otherwise (query values).
std::string s3UriEncode(std::string_view text, bool keepSlash);

//! The query string SigV4 expects, sorted by name, every pair `name=value` (also when the
//! value is empty: `?uploads=`). libcurl 7.88 signs the query as it is written.
std::string s3CanonicalQuery(std::vector<std::pair<std::string, std::string>> query);

//! Lower-case hex sha256 of `bytes`.
std::string sha256Hex(std::string_view bytes);

}  // namespace aw
