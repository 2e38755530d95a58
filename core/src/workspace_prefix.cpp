#include "agent_worker/core/workspace_prefix.h"

#include <vector>

#include "agent_worker/core/identifiers.h"
#include "agent_worker/core/problem.h"

namespace aw {
namespace {

constexpr std::string_view kScheme = "s3://";

bool isBucketCharacter(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

bool isLetterOrDigit(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

void checkBucket(std::string_view bucket) {
    std::string fault;
    if (bucket.size() < 3 || bucket.size() > 63) {
        fault = "is " + std::to_string(bucket.size()) + " characters long";
    } else {
        for (std::size_t i = 0; i < bucket.size() && fault.empty(); ++i) {
            if (!isBucketCharacter(bucket[i])) {
                fault = "contains a character other than a-z, 0-9, '.' and '-' at position ";
                fault += std::to_string(i);
            }
        }
        if (fault.empty() && (!isLetterOrDigit(bucket.front()) || !isLetterOrDigit(bucket.back())))
            fault = "must start and end with a letter or digit";
        if (fault.empty() && bucket.find("..") != std::string_view::npos) fault = "contains \"..\"";
    }
    if (fault.empty()) return;
    std::string message = "bucket name \"";
    message += bucket;
    message += "\" ";
    message += fault;
    throw ProblemError(Problem{"invalid_bucket", std::move(message),
                               "use 3-63 characters of a-z, 0-9, '.' and '-', starting and "
                               "ending with a letter or digit (object_store.bucket)"});
}

std::vector<std::string_view> splitSegments(std::string_view text) {
    std::vector<std::string_view> segments;
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t end = std::min(text.find('/', start), text.size());
        segments.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return segments;
}

//! The root prefix without leading/trailing '/', every segment checked.
std::string normalizedRootPrefix(std::string_view root) {
    const auto fail = [&](const std::string& fault) {
        std::string message = "root prefix \"";
        message += root;
        message += "\" ";
        message += fault;
        throw ProblemError(Problem{
            "invalid_root_prefix", std::move(message),
            "use '/'-separated segments, each " + identifierHint() + " (object_store.prefix)"});
    };
    for (char c : root) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) fail("contains a control character");
    }
    if (root.size() > kMaxRootPrefixLength) {
        fail("is " + std::to_string(root.size()) + " characters long, over the limit of " +
             std::to_string(kMaxRootPrefixLength));
    }
    while (!root.empty() && root.front() == '/') root.remove_prefix(1);
    while (!root.empty() && root.back() == '/') root.remove_suffix(1);
    if (root.empty()) return {};
    for (std::string_view segment : splitSegments(root)) {
        if (const auto fault = identifierFault(segment)) {
            std::string text = "has a segment \"";
            text += segment;
            text += "\" that ";
            text += *fault;
            fail(text);
        }
    }
    return std::string(root);
}

void throwIfInvalid(std::string_view kind, std::string_view id) {
    if (auto problem = checkIdentifier(kind, id)) throw ProblemError(std::move(*problem));
}

}  // namespace

std::string WorkspacePrefix::uri() const {
    std::string text(kScheme);
    text += bucket;
    text += '/';
    text += keyPrefix;
    return text;
}

WorkspacePrefix computeWorkspacePrefix(std::string_view bucket, std::string_view rootPrefix,
                                       std::string_view tenantId, std::string_view sessionId) {
    checkBucket(bucket);
    std::string keyPrefix = normalizedRootPrefix(rootPrefix);
    throwIfInvalid("tenant", tenantId);
    throwIfInvalid("session", sessionId);
    if (!keyPrefix.empty()) keyPrefix += '/';
    keyPrefix += tenantId;
    keyPrefix += '/';
    keyPrefix += sessionId;
    keyPrefix += '/';
    return WorkspacePrefix{std::string(bucket), std::move(keyPrefix)};
}

WorkspacePrefix parseWorkspacePrefix(std::string_view uri) {
    const auto fail = [&](const std::string& fault) {
        std::string message = "workspace prefix \"";
        message += uri;
        message += "\" ";
        message += fault;
        throw ProblemError(Problem{"invalid_workspace_prefix", std::move(message),
                                   "expected s3://<bucket>/<root prefix>/<tenant>/<session>/ "
                                   "as computed by the host; check the worker record"});
    };
    if (!uri.starts_with(kScheme)) fail("does not start with s3://");
    std::string_view rest = uri.substr(kScheme.size());
    const std::size_t slash = rest.find('/');
    if (slash == std::string_view::npos) fail("has no key prefix after the bucket");
    if (!rest.ends_with('/')) fail("does not end with '/'");
    const std::string_view bucket = rest.substr(0, slash);
    const std::string_view keys = rest.substr(slash + 1, rest.size() - slash - 2);
    const std::size_t sessionSlash = keys.rfind('/');
    if (sessionSlash == std::string_view::npos) fail("has no tenant and session");
    const std::string_view session = keys.substr(sessionSlash + 1);
    const std::string_view beforeSession = keys.substr(0, sessionSlash);
    const std::size_t tenantSlash = beforeSession.rfind('/');
    const std::string_view tenant = tenantSlash == std::string_view::npos
                                        ? beforeSession
                                        : beforeSession.substr(tenantSlash + 1);
    const std::string_view root = tenantSlash == std::string_view::npos
                                      ? std::string_view{}
                                      : beforeSession.substr(0, tenantSlash);
    try {
        WorkspacePrefix prefix = computeWorkspacePrefix(bucket, root, tenant, session);
        // Recomputing must give the same text back, or the stored one had a twist
        // (a doubled '/', a leading '/') that the computed form never has.
        if (prefix.uri() != uri) fail("is not in canonical form");
        return prefix;
    } catch (const ProblemError& error) {
        if (error.problem().code == "invalid_workspace_prefix") throw;
        fail("is invalid: " + error.problem().message);
    }
    return {};  // unreachable: fail() throws
}

}  // namespace aw
