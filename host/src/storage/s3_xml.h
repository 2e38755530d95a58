// The XML documents S3 answers with (and the two it is sent), read with Poco::XML's DOM
// parser, external entities off.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent_worker/core/object_store.h"

namespace aw {

//! `<Error><Code>NoSuchBucket</Code><Message>...</Message></Error>`.
struct S3ErrorBody {
    std::string code;
    std::string message;
};
//! Empty when `xml` is no S3 error document.
std::optional<S3ErrorBody> parseS3Error(const std::string& xml);

//! One page of ListObjectsV2; keys as the bucket has them.
struct S3ListPage {
    std::vector<ObjectInfo> objects;
    bool truncated = false;
    std::string nextContinuationToken;
};
//! Throws ProblemError `object_store_bad_answer` when `xml` is no ListBucketResult.
S3ListPage parseListObjectsV2(const std::string& xml);

//! The UploadId of an InitiateMultipartUploadResult; throws like parseListObjectsV2.
std::string parseUploadId(const std::string& xml);

//! What a DeleteObjects answer says: keys deleted, and `key: code message` per failure.
struct S3DeleteResult {
    std::size_t deleted = 0;
    std::vector<std::string> errors;
};
S3DeleteResult parseDeleteResult(const std::string& xml);

//! The body of CompleteMultipartUpload for parts 1..n with these ETags.
std::string completeMultipartXml(const std::vector<std::string>& etags);
//! The body of DeleteObjects (quiet: only failures are answered).
std::string deleteObjectsXml(const std::vector<std::string>& keys);

//! `2026-11-30T09:45:23.000Z` -> milliseconds since the epoch (0 when unreadable).
std::int64_t parseS3TimeMs(const std::string& text);

}  // namespace aw
