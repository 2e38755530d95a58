// The `file` object store: objects as files under one root directory (the embedded
// default, `<data dir>/objects`). Writes go to a temporary file renamed into place.
#pragma once

#include <filesystem>

#include "agent_worker/core/object_store.h"

namespace aw {

class FileObjectStore : public ObjectStore {
public:
    explicit FileObjectStore(std::filesystem::path root);

    void put(const std::string& key, std::string_view bytes) override;
    void putFile(const std::string& key, const std::string& path) override;
    std::optional<std::string> get(const std::string& key) override;
    bool getFile(const std::string& key, const std::string& path) override;
    std::vector<ObjectInfo> list(const std::string& prefix) override;
    bool remove(const std::string& key) override;
    std::size_t removePrefix(const std::string& prefix) override;

private:
    //! The file of `key`; throws ProblemError for a key that is not safe.
    std::filesystem::path pathOf(const std::string& key, bool isPrefix = false) const;
    //! Writes through `write(tempPath)`, then renames over the object's file.
    template <typename Write>
    void replaceAtomically(const std::filesystem::path& target, Write write);

    std::filesystem::path root_;
};

}  // namespace aw
