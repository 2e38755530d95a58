// The `s3` object store: any S3-compatible service (AWS, MinIO, RustFS, s3rver) over libcurl,
// requests signed by libcurl's own SigV4. Port keys are `<bucket>/<object key>` (the
// layout WorkspacePrefix defines); the first segment must be the configured bucket.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "agent_worker/core/object_store.h"
#include "storage/s3_transport.h"

namespace aw {

class S3ObjectStore : public ObjectStore {
public:
    //! Throws ProblemError `object_store_invalid` for settings that cannot work (no
    //! endpoint, no bucket, no credentials, a part size S3 refuses).
    explicit S3ObjectStore(S3Settings settings);

    void put(const std::string& key, std::string_view bytes) override;
    //! Files over `multipartThreshold` go up in parts of `partSize` (aborted on failure).
    void putFile(const std::string& key, const std::string& path) override;
    //! Verified against the checksum stored at upload (see verifyChecksum).
    std::optional<std::string> get(const std::string& key) override;
    //! Written to a temporary file beside `path`, verified, then renamed over it.
    bool getFile(const std::string& key, const std::string& path) override;
    std::vector<ObjectInfo> list(const std::string& prefix) override;
    //! A HEAD, then the DELETE: S3 answers a DELETE of nothing with success too.
    bool remove(const std::string& key) override;
    //! DeleteObjects, up to 1000 keys a request, no HEAD.
    void removeMany(const std::vector<std::string>& keys) override;
    std::size_t removePrefix(const std::string& prefix) override;
    //! `settings.transfers`: the transport is safe for concurrent requests (its handle pool
    //! is locked; every request has its own handle, buffers and temporary file).
    std::size_t parallelTransfers() const override { return settings().transfers; }

    //! Readiness: the endpoint answers and the bucket exists and takes these credentials.
    //! Throws ProblemError (S3Error) saying which of them is wrong.
    void checkBucket();
    //! Creates the bucket (tests, first set-up); an existing bucket of ours is fine.
    void createBucket();

    const S3Settings& settings() const { return transport_.settings(); }

private:
    //! The object key inside the bucket for a port key; throws ProblemError when the key is
    //! unsafe or names another bucket.
    std::string objectKey(const std::string& key) const;
    void putSmallFile(const std::string& objectKey, const std::string& path, std::uint64_t size,
                      unsigned mode);
    void putMultipart(const std::string& objectKey, const std::string& path, std::uint64_t size,
                      unsigned mode);
    std::vector<ObjectInfo> listObjects(const std::string& objectPrefix);
    //! DeleteObjects for `objectKeys` (keys in the bucket), in batches S3 takes; `what`
    //! names them in the error when S3 refuses some.
    void deleteObjects(const std::vector<std::string>& objectKeys, const std::string& what);

    S3Transport transport_;
};

}  // namespace aw
