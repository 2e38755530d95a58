#include "storage/s3_object_store.h"

#include <Poco/Base64Encoder.h>
#include <Poco/MD5Engine.h>
#include <Poco/SHA2Engine.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "storage/s3_xml.h"

namespace aw {
namespace {

namespace fs = std::filesystem;

// Checksums: each object carries the sha256 of its whole content as user metadata, written
// at upload from the very bytes sent, and every restore recomputes it before the file is
// put in place. Not the ETag: a multipart upload's ETag is no digest of the content (it is
// the MD5 of the parts' MD5s), and services with server-side encryption give no MD5 at all;
// the metadata works the same for one part or many, on every S3 service. Objects written by
// other tools (no metadata) are checked against a plain MD5 ETag where they have one.
constexpr const char* kSha256Header = "x-amz-meta-aw-sha256";
// The owner's permission bits, so an executable comes back executable.
constexpr const char* kModeHeader = "x-amz-meta-aw-mode";
constexpr std::size_t kDeleteBatch = 1000;  // S3's limit per DeleteObjects
constexpr std::uint64_t kMinPartSize = 5ULL * 1024 * 1024;
// More requests at once than this only queue up at the service (and cost a thread each).
constexpr std::size_t kMaxTransfers = 64;

ProblemError invalidSettings(const std::string& why, const std::string& hint) {
    return ProblemError({"object_store_invalid", "the s3 object store cannot work: " + why, hint});
}

std::string base64(const Poco::DigestEngine::Digest& digest) {
    std::ostringstream out;
    Poco::Base64Encoder encoder(out);
    encoder.write(reinterpret_cast<const char*>(digest.data()),
                  static_cast<std::streamsize>(digest.size()));
    encoder.close();
    return out.str();
}

//! Hex digest of the file at `path` with `engine`.
std::string fileDigest(const std::string& path, Poco::DigestEngine& engine) {
    std::ifstream in(path, std::ios::binary);
    std::string buffer(1024 * 1024, '\0');
    while (in) {
        in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
        engine.update(buffer.data(), static_cast<unsigned>(in.gcount()));
    }
    return Poco::DigestEngine::digestToHex(engine.digest());
}

std::string temporaryBeside(const std::string& path) {
    static std::atomic<std::uint64_t> counter{0};
    return path + ".aw-partial-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
}

//! Refuses content that is not what was stored: the sha256 recorded at upload, or else a
//! single-part ETag's MD5. `md5Of` is only called when needed.
template <typename Md5Of>
void verifyChecksum(const std::string& key, const S3Response& response, const std::string& sha256,
                    Md5Of md5Of) {
    auto corrupt = [&](const std::string& what) {
        return ProblemError(
            {"object_corrupt",
             "object '" + key + "' does not match its checksum (" + what + "); it was not restored",
             "the stored copy is damaged: restore it from elsewhere or delete it"});
    };
    const std::string stored = response.header(kSha256Header);
    if (!stored.empty()) {
        if (stored != sha256) throw corrupt("sha256 " + sha256 + ", stored " + stored);
        return;
    }
    std::string etag = response.header("etag");
    etag.erase(std::remove(etag.begin(), etag.end(), '"'), etag.end());
    const bool plainMd5 =
        etag.size() == 32 && etag.find_first_not_of("0123456789abcdef") == std::string::npos;
    if (plainMd5 && md5Of() != etag) throw corrupt("md5 differs from the ETag " + etag);
}

S3Request s3Request(const char* operation, const char* method, std::string key = {}) {
    S3Request request;
    request.operation = operation;
    request.method = method;
    request.key = std::move(key);
    return request;
}

unsigned storedMode(const S3Response& response) {
    const std::string text = response.header(kModeHeader);
    if (text.empty() || text.size() > 4 || text.find_first_not_of("01234567") != std::string::npos)
        return 0;
    return static_cast<unsigned>(std::stoul(text, nullptr, 8)) & 0700;
}

std::string modeText(unsigned mode) {
    std::ostringstream out;
    out << std::oct << (mode & 0700);
    return out.str();
}

}  // namespace

S3ObjectStore::S3ObjectStore(S3Settings settings) : transport_(std::move(settings)) {
    const auto& s = transport_.settings();
    if (s.endpoint.rfind("http://", 0) != 0 && s.endpoint.rfind("https://", 0) != 0) {
        throw invalidSettings("object_store.endpoint '" + s.endpoint + "' is not an http(s):// URL",
                              "set it to the S3 service, e.g. http://127.0.0.1:9000");
    }
    if (s.bucket.empty() || s.bucket.find('/') != std::string::npos) {
        throw invalidSettings("object_store.bucket '" + s.bucket + "' is not a bucket name",
                              "set object_store.bucket");
    }
    if (s.region.empty())
        throw invalidSettings("object_store.region is empty", "set it (us-east-1)");
    if (s.credentials.accessKeyId.empty() || s.credentials.secretAccessKey.empty()) {
        throw invalidSettings("no credentials",
                              "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for agent-host");
    }
    if (s.transfers < 1 || s.transfers > kMaxTransfers) {
        throw invalidSettings(std::to_string(s.transfers) + " transfers at once",
                              "use 1 to " + std::to_string(kMaxTransfers));
    }
    if (s.partSize < kMinPartSize) {
        throw invalidSettings("parts of " + std::to_string(s.partSize) + " bytes (S3 needs 5 MiB)",
                              "use a larger part size");
    }
}

std::string S3ObjectStore::objectKey(const std::string& key) const {
    if (auto problem = checkObjectKey(key)) throw ProblemError(*problem);
    const std::string bucket = settings().bucket + "/";
    if (key.rfind(bucket, 0) != 0 || key.size() == bucket.size()) {
        throw ProblemError({"invalid_object_key",
                            "object key '" + key + "' is not in bucket " + settings().bucket,
                            "keys are <bucket>/<key>; object_store.bucket names the one bucket"});
    }
    return key.substr(bucket.size());
}

void S3ObjectStore::put(const std::string& key, std::string_view bytes) {
    S3Request request = s3Request("PutObject", "PUT", objectKey(key));
    const std::string sha256 = sha256Hex(bytes);
    request.headers = {{kSha256Header, sha256}};
    request.body = bytes;
    request.payloadSha256 = sha256;
    if (const auto response = transport_.send(request); !response.ok())
        transport_.fail(request, response);
}

void S3ObjectStore::putFile(const std::string& key, const std::string& path) {
    const std::string inBucket = objectKey(key);
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) {
        throw ProblemError({"object_store_local_io", "cannot read " + path + " to upload it",
                            "the file went away or is not a regular file"});
    }
    const auto size = static_cast<std::uint64_t>(info.st_size);
    const unsigned mode = info.st_mode & 0700;
    if (size > settings().multipartThreshold) {
        putMultipart(inBucket, path, size, mode);
    } else {
        putSmallFile(inBucket, path, size, mode);
    }
}

void S3ObjectStore::putSmallFile(const std::string& objectKey, const std::string& path,
                                 std::uint64_t size, unsigned mode) {
    // Read once: the checksum and the body are the same bytes, even if the file changes.
    std::ifstream in(path, std::ios::binary);
    std::string bytes(size, '\0');
    in.read(bytes.data(), static_cast<std::streamsize>(size));
    bytes.resize(static_cast<std::size_t>(in.gcount()));
    S3Request request = s3Request("PutObject", "PUT", objectKey);
    const std::string sha256 = sha256Hex(bytes);
    request.headers = {{kSha256Header, sha256}, {kModeHeader, modeText(mode)}};
    request.body = bytes;
    request.payloadSha256 = sha256;
    if (const auto response = transport_.send(request); !response.ok())
        transport_.fail(request, response);
}

void S3ObjectStore::putMultipart(const std::string& objectKey, const std::string& path,
                                 std::uint64_t size, unsigned mode) {
    // The metadata goes with CreateMultipartUpload, before the parts: the whole file is
    // hashed first, and the parts' bytes again as they are sent, so a file that changed in
    // between is never stored under a checksum it does not have.
    Poco::SHA2Engine whole(Poco::SHA2Engine::SHA_256);
    const std::string sha256 = fileDigest(path, whole);
    S3Request create = s3Request("CreateMultipartUpload", "POST", objectKey);
    create.query = {{"uploads", ""}};
    create.headers = {{kSha256Header, sha256}, {kModeHeader, modeText(mode)}};
    const auto created = transport_.send(create);
    if (!created.ok()) transport_.fail(create, created);
    const std::string uploadId = parseUploadId(created.body);
    try {
        std::vector<std::string> etags;
        Poco::SHA2Engine sent(Poco::SHA2Engine::SHA_256);
        std::ifstream in(path, std::ios::binary);
        std::string part;
        for (std::uint64_t offset = 0; offset < size; offset += settings().partSize) {
            part.resize(static_cast<std::size_t>(std::min(settings().partSize, size - offset)));
            in.read(part.data(), static_cast<std::streamsize>(part.size()));
            part.resize(static_cast<std::size_t>(in.gcount()));
            sent.update(part.data(), static_cast<unsigned>(part.size()));
            S3Request upload = s3Request("UploadPart", "PUT", objectKey);
            upload.query = {{"partNumber", std::to_string(etags.size() + 1)},
                            {"uploadId", uploadId}};
            upload.body = part;
            upload.payloadSha256 = sha256Hex(part);
            const auto response = transport_.send(upload);
            if (!response.ok()) transport_.fail(upload, response);
            if (response.header("etag").empty()) {
                throw ProblemError({"object_store_bad_answer",
                                    "UploadPart answered without an ETag",
                                    "check that object_store.endpoint is an S3 service"});
            }
            etags.push_back(response.header("etag"));
        }
        if (Poco::DigestEngine::digestToHex(sent.digest()) != sha256) {
            throw ProblemError({"object_store_source_changed",
                                path + " changed while it was uploaded; it was not stored",
                                "the next sync sends it again"});
        }
        const std::string body = completeMultipartXml(etags);
        S3Request complete = s3Request("CompleteMultipartUpload", "POST", objectKey);
        complete.query = {{"uploadId", uploadId}};
        complete.headers = {{"Content-Type", "application/xml"}};
        complete.body = body;
        const auto response = transport_.send(complete);
        // S3 may answer 200 and still fail: the error is then in the body.
        if (!response.ok() || parseS3Error(response.body)) transport_.fail(complete, response);
    } catch (...) {
        S3Request abort = s3Request("AbortMultipartUpload", "DELETE", objectKey);
        abort.query = {{"uploadId", uploadId}};
        try {
            transport_.send(abort);
        } catch (const std::exception&) {
            // The first failure is the one to report; the service expires stale uploads.
        }
        throw;
    }
}

std::optional<std::string> S3ObjectStore::get(const std::string& key) {
    S3Request request = s3Request("GetObject", "GET", objectKey(key));
    auto response = transport_.send(request);
    if (response.status == 404 &&
        parseS3Error(response.body).value_or(S3ErrorBody{}).code != "NoSuchBucket") {
        return std::nullopt;
    }
    if (!response.ok()) transport_.fail(request, response);
    verifyChecksum(key, response, sha256Hex(response.body), [&] {
        Poco::MD5Engine md5;
        md5.update(response.body.data(), static_cast<unsigned>(response.body.size()));
        return Poco::DigestEngine::digestToHex(md5.digest());
    });
    return std::move(response.body);
}

bool S3ObjectStore::getFile(const std::string& key, const std::string& path) {
    S3Request request = s3Request("GetObject", "GET", objectKey(key));
    const fs::path target(path);
    if (target.has_parent_path()) fs::create_directories(target.parent_path());
    request.responseFile = temporaryBeside(path);
    try {
        const auto response = transport_.send(request);
        if (response.status == 404 &&
            parseS3Error(response.body).value_or(S3ErrorBody{}).code != "NoSuchBucket") {
            fs::remove(request.responseFile);
            return false;
        }
        if (!response.ok()) transport_.fail(request, response);
        Poco::SHA2Engine sha(Poco::SHA2Engine::SHA_256);
        verifyChecksum(key, response, fileDigest(request.responseFile, sha), [&] {
            Poco::MD5Engine md5;
            return fileDigest(request.responseFile, md5);
        });
        if (const unsigned mode = storedMode(response)) ::chmod(request.responseFile.c_str(), mode);
        fs::rename(request.responseFile, target);
        return true;
    } catch (...) {
        std::error_code ignored;
        fs::remove(request.responseFile, ignored);
        throw;
    }
}

std::vector<ObjectInfo> S3ObjectStore::list(const std::string& prefix) {
    if (auto problem = checkObjectKey(prefix, true)) throw ProblemError(*problem);
    const std::string bucket = settings().bucket + "/";
    if (prefix.rfind(bucket, 0) == 0) return listObjects(prefix.substr(bucket.size()));
    if (bucket.rfind(prefix, 0) == 0) return listObjects("");  // the whole bucket
    return {};  // another bucket: nothing of it is here
}

std::vector<ObjectInfo> S3ObjectStore::listObjects(const std::string& objectPrefix) {
    std::vector<ObjectInfo> objects;
    std::string token;
    do {
        S3Request request = s3Request("ListObjectsV2", "GET");
        request.query = {{"list-type", "2"}, {"prefix", objectPrefix}};
        if (!token.empty()) request.query.emplace_back("continuation-token", token);
        const auto response = transport_.send(request);
        if (!response.ok()) transport_.fail(request, response);
        auto page = parseListObjectsV2(response.body);
        for (auto& object : page.objects) {
            object.key = settings().bucket + "/" + object.key;
            objects.push_back(std::move(object));
        }
        if (page.truncated &&
            (page.nextContinuationToken.empty() || page.nextContinuationToken == token)) {
            throw ProblemError({"object_store_bad_answer",
                                "ListObjectsV2 said there is more without a new continuation token",
                                "check that object_store.endpoint is an S3 service"});
        }
        token = page.truncated ? page.nextContinuationToken : "";
    } while (!token.empty());
    std::sort(objects.begin(), objects.end(),
              [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
    return objects;
}

bool S3ObjectStore::remove(const std::string& key) {
    // S3 answers a DELETE of nothing with success too: a HEAD first says whether there was
    // an object. Callers that need no answer use removeMany.
    S3Request head = s3Request("HeadObject", "HEAD", objectKey(key));
    const auto headed = transport_.send(head);
    if (headed.status == 404) return false;
    if (!headed.ok()) transport_.fail(head, headed);
    S3Request request = s3Request("DeleteObject", "DELETE", head.key);
    const auto response = transport_.send(request);
    if (!response.ok()) transport_.fail(request, response);
    return true;
}

void S3ObjectStore::removeMany(const std::vector<std::string>& keys) {
    std::vector<std::string> objectKeys;
    objectKeys.reserve(keys.size());
    for (const auto& key : keys) objectKeys.push_back(objectKey(key));
    deleteObjects(objectKeys, "of " + std::to_string(keys.size()) + " to delete");
}

std::size_t S3ObjectStore::removePrefix(const std::string& prefix) {
    const auto objects = list(prefix);
    const std::size_t bucketPart = settings().bucket.size() + 1;
    std::vector<std::string> keys;
    keys.reserve(objects.size());
    for (const auto& object : objects) keys.push_back(object.key.substr(bucketPart));
    deleteObjects(keys, "under '" + prefix + "'");
    return keys.size();
}

void S3ObjectStore::deleteObjects(const std::vector<std::string>& objectKeys,
                                  const std::string& what) {
    for (std::size_t start = 0; start < objectKeys.size(); start += kDeleteBatch) {
        const auto first = objectKeys.begin() + static_cast<std::ptrdiff_t>(start);
        const std::vector<std::string> keys(
            first,
            first + static_cast<std::ptrdiff_t>(std::min(kDeleteBatch, objectKeys.size() - start)));
        const std::string body = deleteObjectsXml(keys);
        Poco::MD5Engine md5;
        md5.update(body.data(), static_cast<unsigned>(body.size()));
        S3Request request = s3Request("DeleteObjects", "POST");
        request.query = {{"delete", ""}};
        // S3 refuses a DeleteObjects without a digest of its body.
        request.headers = {{"Content-Type", "application/xml"},
                           {"Content-MD5", base64(md5.digest())}};
        request.body = body;
        const auto response = transport_.send(request);
        if (!response.ok()) transport_.fail(request, response);
        const auto result = parseDeleteResult(response.body);
        if (!result.errors.empty()) {
            throw ProblemError({"object_store_delete_failed",
                                std::to_string(result.errors.size()) + " object(s) " + what +
                                    " could not be deleted, e.g. " + result.errors.front(),
                                "check the credentials' permissions; repeat the removal"});
        }
    }
}

void S3ObjectStore::checkBucket() {
    S3Request request = s3Request("HeadBucket", "HEAD");
    const auto response = transport_.send(request);
    if (!response.ok()) transport_.fail(request, response);
}

void S3ObjectStore::createBucket() {
    S3Request request = s3Request("CreateBucket", "PUT");
    std::string body;
    if (settings().region != "us-east-1") {
        body = "<CreateBucketConfiguration><LocationConstraint>" + settings().region +
               "</LocationConstraint></CreateBucketConfiguration>";
    }
    request.body = body;
    const auto response = transport_.send(request);
    if (response.ok()) return;
    if (response.status == 409 &&
        parseS3Error(response.body).value_or(S3ErrorBody{}).code == "BucketAlreadyOwnedByYou") {
        return;
    }
    transport_.fail(request, response);
}

}  // namespace aw
