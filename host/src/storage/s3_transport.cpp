#include "storage/s3_transport.h"

#include <Poco/SHA2Engine.h>
#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "agent_worker/core/backoff.h"
#include "storage/s3_xml.h"

namespace aw {
namespace {

// The sha256 of no bytes: the payload hash of GET, HEAD and DELETE.
constexpr const char* kEmptySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
// Error bodies are kept for their message; a large one is not read whole.
constexpr std::size_t kMaxErrorBody = 64 * 1024;

void initCurlOnce() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct SlistDeleter {
    void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
struct FileCloser {
    void operator()(std::FILE* file) const { std::fclose(file); }
};
using FileHandle = std::unique_ptr<std::FILE, FileCloser>;

std::string lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

std::string trim(const std::string& text) {
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) return "";
    return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

//! The state of one attempt, shared with libcurl's callbacks.
struct Attempt {
    CURL* curl = nullptr;
    S3Response* response = nullptr;
    std::FILE* responseFile = nullptr;  // 2xx bodies go here when set
    bool writeFailed = false;
    std::string_view body;  // what is left to send
};

std::size_t onHeader(char* data, std::size_t size, std::size_t count, void* user) {
    auto& attempt = *static_cast<Attempt*>(user);
    const std::string line(data, size * count);
    if (line.rfind("HTTP/", 0) == 0) {
        attempt.response->headers.clear();  // a new answer (after a 100 Continue)
    } else if (const auto colon = line.find(':'); colon != std::string::npos) {
        attempt.response->headers[lower(trim(line.substr(0, colon)))] =
            trim(line.substr(colon + 1));
    }
    return size * count;
}

std::size_t onWrite(char* data, std::size_t size, std::size_t count, void* user) {
    auto& attempt = *static_cast<Attempt*>(user);
    long status = 0;
    curl_easy_getinfo(attempt.curl, CURLINFO_RESPONSE_CODE, &status);
    const std::size_t bytes = size * count;
    if (attempt.responseFile && status >= 200 && status < 300) {
        if (std::fwrite(data, 1, bytes, attempt.responseFile) != bytes) {
            attempt.writeFailed = true;
            return 0;  // aborts the transfer
        }
        return bytes;
    }
    auto& body = attempt.response->body;
    if (status >= 300 && body.size() >= kMaxErrorBody) return bytes;
    body.append(data, bytes);
    return bytes;
}

std::size_t onRead(char* buffer, std::size_t size, std::size_t count, void* user) {
    auto& attempt = *static_cast<Attempt*>(user);
    const std::size_t n = std::min(size * count, attempt.body.size());
    std::copy_n(attempt.body.data(), n, buffer);
    attempt.body.remove_prefix(n);
    return n;
}

//! curl errors worth another attempt: the service or the way to it, not our own request.
bool isTransient(CURLcode code) {
    switch (code) {
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_CONNECT:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
            return true;
        default:
            return false;
    }
}

}  // namespace

class CurlHandles {
public:
    explicit CurlHandles(std::size_t maxIdle) : maxIdle_(maxIdle) {}
    ~CurlHandles() {
        for (CURL* handle : idle_) curl_easy_cleanup(handle);
    }
    //! An idle handle (reset, its connections kept) or a new one; back with give().
    CURL* take() {
        {
            std::lock_guard lock(mutex_);
            if (!idle_.empty()) {
                CURL* handle = idle_.back();
                idle_.pop_back();
                curl_easy_reset(handle);
                return handle;
            }
        }
        CURL* handle = curl_easy_init();
        if (!handle) throw std::runtime_error("libcurl cannot make a handle");
        return handle;
    }
    void give(CURL* handle) {
        std::lock_guard lock(mutex_);
        if (idle_.size() < maxIdle_) {
            idle_.push_back(handle);
            return;
        }
        curl_easy_cleanup(handle);
    }

private:
    const std::size_t maxIdle_;
    std::mutex mutex_;
    std::vector<CURL*> idle_;
};

std::string S3Response::header(const std::string& lowerName) const {
    const auto it = headers.find(lowerName);
    return it == headers.end() ? std::string() : it->second;
}

std::string s3UriEncode(std::string_view text, bool keepSlash) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : text) {
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' ||
            (keepSlash && c == '/')) {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 0x0f];
        }
    }
    return out;
}

std::string s3CanonicalQuery(std::vector<std::pair<std::string, std::string>> query) {
    std::vector<std::pair<std::string, std::string>> encoded;
    for (const auto& [name, value] : query) {
        encoded.emplace_back(s3UriEncode(name, false), s3UriEncode(value, false));
    }
    std::sort(encoded.begin(), encoded.end());
    std::string out;
    for (const auto& [name, value] : encoded) out += (out.empty() ? "" : "&") + name + "=" + value;
    return out;
}

std::string sha256Hex(std::string_view bytes) {
    Poco::SHA2Engine engine(Poco::SHA2Engine::SHA_256);
    engine.update(bytes.data(), static_cast<unsigned>(bytes.size()));
    return Poco::DigestEngine::digestToHex(engine.digest());
}

S3Transport::S3Transport(S3Settings settings)
    : settings_(std::move(settings)),
      handles_(std::make_shared<CurlHandles>(std::max<std::size_t>(1, settings_.transfers))) {
    while (!settings_.endpoint.empty() && settings_.endpoint.back() == '/')
        settings_.endpoint.pop_back();
    initCurlOnce();
}

std::string S3Transport::url(const std::string& key,
                             const std::vector<std::pair<std::string, std::string>>& query) const {
    std::string base = settings_.endpoint;
    std::string path;
    if (settings_.pathStyle) {
        path = "/" + s3UriEncode(settings_.bucket, false) +
               (key.empty() ? "" : "/" + s3UriEncode(key, true));
    } else {
        const auto scheme = base.find("://");
        const auto hostStart = scheme == std::string::npos ? 0 : scheme + 3;
        base.insert(hostStart, settings_.bucket + ".");
        path = "/" + s3UriEncode(key, true);
    }
    const std::string canonicalQuery = s3CanonicalQuery(query);
    return base + path + (canonicalQuery.empty() ? "" : "?" + canonicalQuery);
}

S3Response S3Transport::send(const S3Request& request) const {
    std::string payloadHash = request.payloadSha256;
    if (payloadHash.empty())
        payloadHash = request.body.empty() ? kEmptySha256 : sha256Hex(request.body);
    std::unique_ptr<curl_slist, SlistDeleter> headers;
    auto addHeader = [&](const std::string& line) {
        headers.reset(curl_slist_append(headers.release(), line.c_str()));
    };
    // libcurl 7.88 signs this header but does not make it: S3 needs it on every request.
    addHeader("x-amz-content-sha256: " + payloadHash);
    if (!settings_.credentials.sessionToken.empty()) {
        addHeader("x-amz-security-token: " + settings_.credentials.sessionToken);
    }
    for (const auto& [name, value] : request.headers) addHeader(name + ": " + value);
    const std::string target = url(request.key, request.query);

    for (int attempt = 1;; ++attempt) {
        Outcome outcome = performOnce(request, target, headers.get());
        S3Response& response = outcome.response;
        const auto code = static_cast<CURLcode>(outcome.curlCode);
        response.attempts = attempt;
        std::optional<CallFailureKind> failure;
        std::string why;
        if (code == CURLE_OK) {
            if (response.status < 500) return response;
            failure = CallFailureKind::Http;
            const auto error = parseS3Error(response.body);
            why = "HTTP " + std::to_string(response.status) +
                  (error ? " " + error->code + ": " + error->message : "");
        } else if (outcome.writeFailed) {
            throw ProblemError({"object_store_local_io",
                                "cannot write " + request.responseFile + " (disk full?)",
                                "free space where the workspace is restored"});
        } else if (!isTransient(code)) {
            throw S3Error({"object_store_request_failed",
                           request.operation + " to the object store at " + settings_.endpoint +
                               " failed: " + curl_easy_strerror(code),
                           "check object_store.endpoint"},
                          CallFailureKind::Network, std::nullopt, attempt);
        } else {
            failure = code == CURLE_OPERATION_TIMEDOUT ? CallFailureKind::Timeout
                                                       : CallFailureKind::Network;
            why = curl_easy_strerror(code);
        }
        const std::optional<int> status =
            response.status ? std::optional<int>(response.status) : std::nullopt;
        if (!settings_.retry.shouldRetry(*failure, status, attempt)) {
            throw S3Error(
                {"object_store_unavailable",
                 request.operation + (request.key.empty() ? "" : " of '" + request.key + "'") +
                     " on bucket " + settings_.bucket + " at " + settings_.endpoint +
                     " failed after " + std::to_string(attempt) + " attempt(s) (" +
                     toString(*failure) + ": " + why + ")",
                 "check that the S3 service at object_store.endpoint is up; the "
                 "operation can be repeated once it is"},
                *failure, status, attempt);
        }
        std::this_thread::sleep_for(settings_.retry.backoffAfter(attempt, unitRandom()));
    }
}

S3Transport::Outcome S3Transport::performOnce(const S3Request& request, const std::string& target,
                                              curl_slist* headers) const {
    Outcome outcome;
    // Given back whatever happens; a handle whose transfer failed drops its broken
    // connection itself.
    const std::unique_ptr<CURL, std::function<void(CURL*)>> curl(
        handles_->take(), [handles = handles_](CURL* handle) { handles->give(handle); });
    Attempt state;
    state.curl = curl.get();
    state.response = &outcome.response;
    state.body = request.body;
    FileHandle responseFile;
    if (!request.responseFile.empty()) {
        responseFile.reset(
            std::fopen(request.responseFile.c_str(), "wb"));  // truncated per attempt
        if (!responseFile) {
            throw ProblemError({"object_store_local_io", "cannot write " + request.responseFile,
                                "check the directory's permissions and free space"});
        }
        state.responseFile = responseFile.get();
    }
    const std::string sigv4 = "aws:amz:" + settings_.region + ":s3";
    CURL* h = curl.get();
    curl_easy_setopt(h, CURLOPT_URL, target.c_str());
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, sigv4.c_str());
    curl_easy_setopt(h, CURLOPT_USERNAME, settings_.credentials.accessKeyId.c_str());
    curl_easy_setopt(h, CURLOPT_PASSWORD, settings_.credentials.secretAccessKey.c_str());
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(settings_.connectTimeout.count()));
    // Cut a request that moves (almost) nothing for stallTimeout; large objects take as long
    // as they take.
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME,
                     std::max(1L, static_cast<long>(settings_.stallTimeout.count() / 1000)));
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, onHeader);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &state);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, onWrite);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &state);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, onRead);
    curl_easy_setopt(h, CURLOPT_READDATA, &state);
    const auto bodySize = static_cast<curl_off_t>(request.body.size());
    if (request.method == "PUT") {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, bodySize);
    } else if (request.method == "POST") {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, bodySize);
    } else if (request.method == "HEAD") {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (request.method != "GET") {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    }
    outcome.curlCode = curl_easy_perform(h);
    outcome.writeFailed = state.writeFailed;
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (outcome.curlCode == CURLE_OK) outcome.response.status = static_cast<int>(status);
    return outcome;
}

void S3Transport::fail(const S3Request& request, const S3Response& response) const {
    const auto error = parseS3Error(response.body);
    const std::string code = error ? error->code : "";
    const std::string detail = "HTTP " + std::to_string(response.status) +
                               (code.empty() ? "" : " " + code) +
                               (error && !error->message.empty() ? ": " + error->message : "");
    const std::string where = " at " + settings_.endpoint;
    Problem problem;
    if (code == "NoSuchBucket" || (response.status == 404 && request.key.empty())) {
        problem = {"object_store_bucket_missing",
                   "bucket " + settings_.bucket + " does not exist" + where + " (" +
                       request.operation + ": " + detail + ")",
                   "create it or set object_store.bucket"};
    } else if (response.status == 403 || response.status == 401 || code == "InvalidAccessKeyId" ||
               code == "SignatureDoesNotMatch") {
        problem = {"object_store_access_denied",
                   "the object store" + where + " refused " + request.operation + " on bucket " +
                       settings_.bucket + " (" + detail + ")",
                   "check the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "
                   "AWS_SESSION_TOKEN), object_store.region and the bucket's policy"};
    } else {
        problem = {"object_store_request_refused",
                   "the object store" + where + " refused " + request.operation + " of '" +
                       request.key + "' in bucket " + settings_.bucket + " (" + detail + ")",
                   "see the S3 error code; a repeated request will be refused the same way"};
    }
    throw S3Error(std::move(problem), CallFailureKind::Http, response.status, response.attempts);
}

}  // namespace aw
