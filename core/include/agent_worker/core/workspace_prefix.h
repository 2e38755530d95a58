// Where a session's files live in object storage. The only place a workspace_s3_prefix is
// built or read back, so no other code can put a session's files anywhere else.
#pragma once

#include <string>
#include <string_view>

namespace aw {

inline constexpr std::size_t kMaxRootPrefixLength = 256;

//! A session's place in object storage.
//!
//! Format: `s3://<bucket>/<root prefix>/<tenant id>/<session id>/`, for example
//! `s3://agent-workspaces/prod/acme/chat-42/`. The root prefix comes from configuration
//! and may be empty (then `s3://<bucket>/<tenant id>/<session id>/`). The key prefix always
//! ends with '/', so session `chat-4` can never match the keys of session `chat-42`.
struct WorkspacePrefix {
    std::string bucket;
    std::string keyPrefix;  //!< `<root prefix>/<tenant id>/<session id>/`, no leading '/'

    //! The workspace_s3_prefix stored on the worker record and shown by the API.
    std::string uri() const;

    bool operator==(const WorkspacePrefix&) const = default;
};

//! Builds a session's prefix. Bucket: 3-63 characters of [a-z0-9.-], starting and ending
//! with a letter or digit (S3's rules). Root prefix: '/'-separated segments, each a valid
//! identifier (so no `..`, `.` or empty segment); leading and trailing '/' are ignored;
//! at most 256 characters. Tenant and session: valid identifiers (checkIdentifier), which
//! rules out slashes, `..`, control characters and emptiness. Because every part is a
//! single checked segment, the result always lies under `<root prefix>/`.
//! Throws ProblemError: `invalid_bucket`, `invalid_root_prefix`, `invalid_tenant`,
//! `invalid_session`.
WorkspacePrefix computeWorkspacePrefix(std::string_view bucket, std::string_view rootPrefix,
                                       std::string_view tenantId, std::string_view sessionId);

//! Reads a stored workspace_s3_prefix back, checking it has exactly the shape
//! computeWorkspacePrefix() produces. Data already stored stays where it is even if the
//! configured root prefix changes later, so callers read the record rather than recompute.
//! Throws ProblemError `invalid_workspace_prefix`.
WorkspacePrefix parseWorkspacePrefix(std::string_view uri);

}  // namespace aw
