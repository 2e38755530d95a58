#include "storage/file_object_store.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <sstream>

#include "files/private_files.h"

namespace aw {
namespace {

// Temporary files carry this marker; list() never shows them.
constexpr std::string_view kTempMarker = ".aw-partial-";

std::int64_t modifiedMs(const std::filesystem::path& path) {
    const auto time = std::filesystem::last_write_time(path);
    const auto system = std::chrono::file_clock::to_sys(time);
    return std::chrono::duration_cast<std::chrono::milliseconds>(system.time_since_epoch()).count();
}

std::string temporaryName() {
    static std::atomic<std::uint64_t> counter{0};
    return std::string(kTempMarker) + std::to_string(::getpid()) + "-" + std::to_string(++counter);
}

}  // namespace

FileObjectStore::FileObjectStore(std::filesystem::path root) : root_(std::move(root)) {
    createPrivateDirectories(root_);
}

std::filesystem::path FileObjectStore::pathOf(const std::string& key, bool isPrefix) const {
    if (auto problem = checkObjectKey(key, isPrefix)) throw ProblemError(*problem);
    return root_ / key;
}

template <typename Write>
void FileObjectStore::replaceAtomically(const std::filesystem::path& target, Write write) {
    createPrivateDirectories(target.parent_path());
    const auto temporary = target.parent_path() / temporaryName();
    try {
        write(temporary);
        std::filesystem::rename(temporary, target);
    } catch (...) {
        std::error_code ignored;
        std::filesystem::remove(temporary, ignored);
        throw;
    }
}

void FileObjectStore::put(const std::string& key, std::string_view bytes) {
    replaceAtomically(pathOf(key), [&](const std::filesystem::path& temporary) {
        auto out = openPrivateFile(temporary, std::ios::binary | std::ios::trunc);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        if (!out.flush()) throw std::runtime_error("cannot write " + temporary.string());
    });
}

void FileObjectStore::putFile(const std::string& key, const std::string& path) {
    replaceAtomically(pathOf(key), [&](const std::filesystem::path& temporary) {
        std::filesystem::copy_file(path, temporary, std::filesystem::copy_options::overwrite_existing);
        // copy_file gives the copy the source's mode, umask or not: an object keeps only
        // its owner's bits (an executable stays executable when restored).
        std::filesystem::permissions(
            temporary, std::filesystem::perms::group_all | std::filesystem::perms::others_all,
            std::filesystem::perm_options::remove);
    });
}

std::optional<std::string> FileObjectStore::get(const std::string& key) {
    std::ifstream in(pathOf(key), std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream bytes;
    bytes << in.rdbuf();
    return bytes.str();
}

bool FileObjectStore::getFile(const std::string& key, const std::string& path) {
    const auto source = pathOf(key);
    if (!std::filesystem::is_regular_file(source)) return false;
    const std::filesystem::path target(path);
    std::filesystem::create_directories(target.parent_path());
    // Copied beside, then renamed over: a reader of `path` never sees half a file.
    const auto temporary = target.parent_path() / temporaryName();
    try {
        std::filesystem::copy_file(source, temporary);
        std::filesystem::rename(temporary, target);
    } catch (...) {
        std::error_code ignored;
        std::filesystem::remove(temporary, ignored);
        throw;
    }
    return true;
}

std::vector<ObjectInfo> FileObjectStore::list(const std::string& prefix) {
    // Walk only the deepest directory the prefix names, then filter by the full prefix.
    const auto lastSlash = prefix.rfind('/');
    const std::string directoryPart = lastSlash == std::string::npos ? "" : prefix.substr(0, lastSlash);
    const auto start = directoryPart.empty() ? root_ : pathOf(directoryPart, true);
    std::vector<ObjectInfo> objects;
    std::error_code error;
    if (!std::filesystem::is_directory(start, error)) return objects;
    for (auto it = std::filesystem::recursive_directory_iterator(start, error);
         it != std::filesystem::recursive_directory_iterator(); it.increment(error)) {
        if (error) break;
        if (!it->is_regular_file()) continue;
        const auto name = it->path().filename().string();
        if (name.rfind(kTempMarker, 0) == 0) continue;
        const std::string key = std::filesystem::relative(it->path(), root_).generic_string();
        if (key.rfind(prefix, 0) != 0) continue;
        objects.push_back({key, static_cast<std::uint64_t>(it->file_size()), modifiedMs(it->path())});
    }
    std::sort(objects.begin(), objects.end(),
              [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
    return objects;
}

bool FileObjectStore::remove(const std::string& key) {
    const auto path = pathOf(key);
    std::error_code error;
    const bool removed = std::filesystem::remove(path, error);
    // Empty directories are an artefact of the layout, not objects: prune them.
    for (auto dir = path.parent_path(); removed && dir != root_ && dir.string().size() > root_.string().size();
         dir = dir.parent_path()) {
        if (!std::filesystem::is_empty(dir, error) || !std::filesystem::remove(dir, error)) break;
    }
    return removed;
}

std::size_t FileObjectStore::removePrefix(const std::string& prefix) {
    std::size_t removed = 0;
    for (const auto& object : list(prefix)) removed += remove(object.key) ? 1 : 0;
    return removed;
}

}  // namespace aw
