// The object store port: where workspaces live while their worker is stopped or removed.
// Keys are `<bucket>/<key prefix from WorkspacePrefix><relative path>`; backends: `file`
// (host/src/storage, the embedded default) and `s3` (any S3-compatible service).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent_worker/core/problem.h"

namespace aw {

struct ObjectInfo {
    std::string key;
    std::uint64_t size = 0;
    std::int64_t modifiedMs = 0;
};

class ObjectStore {
public:
    virtual ~ObjectStore() = default;
    //! Stores `bytes` under `key`, replacing what was there; readers never see half a file.
    virtual void put(const std::string& key, std::string_view bytes) = 0;
    //! Stores the file at `path` under `key` (streamed, for large files).
    virtual void putFile(const std::string& key, const std::string& path) = 0;
    virtual std::optional<std::string> get(const std::string& key) = 0;
    //! Writes the object to `path`; false when there is no such object.
    virtual bool getFile(const std::string& key, const std::string& path) = 0;
    //! Every object whose key starts with `prefix`, in key order.
    virtual std::vector<ObjectInfo> list(const std::string& prefix) = 0;
    //! True when an object was removed.
    virtual bool remove(const std::string& key) = 0;
    //! Removes each of `keys`; a key with no object is no error. For callers that need no
    //! answer per key (a sync's deleted files): a backend may do it in fewer requests than
    //! remove() one by one. Throws ProblemError naming a key that could not be removed; then
    //! some of the others may be removed already.
    virtual void removeMany(const std::vector<std::string>& keys);
    //! Removes every object under `prefix`; returns how many.
    virtual std::size_t removePrefix(const std::string& prefix) = 0;
    //! How many put/get/remove calls a caller may run at once on this store from as many
    //! threads (a workspace's files); 1: one at a time.
    virtual std::size_t parallelTransfers() const { return 1; }
};

//! Empty when `key` is safe for any backend: relative, `/`-separated, no empty, `.` or
//! `..` segment, no backslash or control character, at most 1024 bytes. Otherwise the
//! Problem (`invalid_object_key`) names what is wrong. Prefixes may end with `/`.
std::optional<Problem> checkObjectKey(std::string_view key, bool isPrefix = false);

}  // namespace aw
