#include "agent_executor/workspace_service.h"

#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <stdexcept>

#include "files/private_files.h"
#include "http/api_error.h"
#include "storage/parallel_transfers.h"

namespace aw {
namespace {

namespace fs = std::filesystem;

double millisSince(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

//! Refuses a target that leaves `base`, enters a protected path, or would be written
//! through a symlink that points elsewhere (the parent is resolved on disk).
void checkTarget(const fs::path& target, const fs::path& base, const RestorePlan& plan) {
    const std::string normal = lexicallyNormalAbsolute(target.string());
    auto refuse = [&](const std::string& why) {
        throw ApiError(422, {"restore_path_rejected", "restore target " + normal + " " + why,
                             "object keys must stay inside their entry's target"});
    };
    if (!isSameOrInside(normal, base.string())) refuse("leaves " + base.string());
    std::vector<std::string> protectedPaths = plan.protectedPaths;
    for (const auto& path : builtinProtectedPaths()) protectedPaths.push_back(path);
    for (const auto& path : protectedPaths) {
        if (isSameOrInside(normal, path)) refuse("is inside the protected path " + path);
    }
    std::error_code error;
    const auto parent = fs::weakly_canonical(fs::path(normal).parent_path(), error);
    if (!error && !isSameOrInside(parent.string(), fs::weakly_canonical(base, error).string())) {
        refuse("would be written through a symlink to " + parent.string());
    }
}

struct FileState {
    std::uint64_t size = 0;
    std::int64_t mtimeNs = 0;
    bool operator==(const FileState&) const = default;
};

//! Regular files below `root`, relative paths to their state. Symlinks are not followed:
//! a link to outside the workspace must never pull foreign files into the store.
std::map<std::string, FileState> scanFiles(const fs::path& root) {
    std::map<std::string, FileState> files;
    std::error_code error;
    if (!fs::is_directory(root, error)) return files;
    for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, error);
         it != fs::recursive_directory_iterator(); it.increment(error)) {
        if (error) break;
        if (it->is_symlink() || !it->is_regular_file()) continue;
        struct stat info {};
        if (::lstat(it->path().c_str(), &info) != 0) continue;
        files[fs::relative(it->path(), root).generic_string()] =
            FileState{static_cast<std::uint64_t>(info.st_size),
                      static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1000000000 + info.st_mtim.tv_nsec};
    }
    return files;
}

//! Writes `document` to `path` atomically (a reader sees the old or the new file).
void writeJsonFile(const fs::path& path, const nlohmann::json& document) {
    createPrivateDirectories(path.parent_path());
    const auto temporary = path.string() + ".tmp";
    {
        auto out = openPrivateFile(temporary, std::ios::trunc);
        out << document.dump();
        out.flush();
        if (!out) throw std::runtime_error("cannot write " + temporary);
    }
    fs::rename(temporary, path);
}

//! Throws `error` again, a ProblemError's message led by `doing` (what was done to which
//! file and key), so that one failure among thousands of transfers says which one it was.
[[noreturn]] void rethrowFor(const std::exception_ptr& error, const std::string& doing) {
    try {
        std::rethrow_exception(error);
    } catch (const ProblemError& e) {
        Problem problem = e.problem();
        problem.message = doing + ": " + problem.message;
        throw ProblemError(std::move(problem));
    }
}

nlohmann::json manifestEntry(const FileState& state) {
    return {{"size", state.size}, {"mtime_ns", state.mtimeNs}};
}

//! Syncs the regular files below `root` to the objects under `prefix` (a full key prefix,
//! bucket included). `full`, or a first sync without a manifest, compares with what the
//! store holds and uploads every file; otherwise only files that differ from the manifest
//! of the last sync go up, as many at once as the store takes. Files gone from `root` are
//! deleted in the store either way. When an upload fails, the manifest still records what
//! did go up (and nothing of what did not), then the first failure is thrown.
SyncCounts syncTree(ObjectStore& store, const fs::path& root, const std::string& prefix,
                    const fs::path& manifestPath, bool full) {
    std::map<std::string, FileState> stored;
    bool haveManifest = false;
    if (!full) {
        std::ifstream in(manifestPath);
        const auto manifest = nlohmann::json::parse(in, nullptr, false);
        if (manifest.is_object()) {
            haveManifest = true;
            for (const auto& [path, state] : manifest.items()) {
                stored[path] = FileState{state.value("size", std::uint64_t{0}), state.value("mtime_ns", std::int64_t{0})};
            }
        }
    }
    if (!haveManifest) {
        for (const auto& object : store.list(prefix)) {
            stored[object.key.substr(prefix.size())] = FileState{object.size, -1};  // re-upload all
        }
    }
    const auto current = scanFiles(root);
    SyncCounts counts;
    counts.files = static_cast<std::int64_t>(current.size());
    nlohmann::json manifest = nlohmann::json::object();
    std::vector<std::pair<std::string, FileState>> uploads;
    for (const auto& [path, state] : current) {
        const auto it = stored.find(path);
        if (it != stored.end() && it->second == state) {
            ++counts.unchangedFiles;
            manifest[path] = manifestEntry(state);
        } else {
            uploads.emplace_back(path, state);
        }
    }
    const auto batch = runTransfers(uploads.size(), store.parallelTransfers(), [&](std::size_t i) {
        store.putFile(prefix + uploads[i].first, (root / uploads[i].first).string());
    });
    for (std::size_t i = 0; i < uploads.size(); ++i) {
        const auto& [path, state] = uploads[i];
        if (batch.outcomes[i] == TransferOutcome::Done) {
            manifest[path] = manifestEntry(state);
            ++counts.uploadedFiles;
            counts.uploadedBytes += static_cast<std::int64_t>(state.size);
        } else if (batch.outcomes[i] == TransferOutcome::Failed) {
            // The object may or may not have been stored (an answer lost on the way): an
            // entry no file matches, so the next sync uploads the file, or deletes the
            // object if the file is gone by then.
            manifest[path] = manifestEntry(FileState{state.size, -1});
        } else if (const auto it = stored.find(path); it != stored.end()) {
            manifest[path] = manifestEntry(it->second);  // not tried: the store has the old one
        }
    }
    std::vector<std::string> deletions;
    for (const auto& [path, state] : stored) {
        if (!current.count(path)) deletions.push_back(path);
    }
    std::exception_ptr deletionError;
    if (batch.ok() && !deletions.empty()) {
        std::vector<std::string> keys;
        for (const auto& path : deletions) keys.push_back(prefix + path);
        try {
            store.removeMany(keys);
            counts.deletedFiles = static_cast<std::int64_t>(deletions.size());
        } catch (...) {
            deletionError = std::current_exception();
        }
    }
    if (!batch.ok() || deletionError) {
        // Not deleted (or not known to be): the next sync deletes them again.
        for (const auto& path : deletions) manifest[path] = manifestEntry(stored[path]);
    }
    // Written last, for what really happened: a sync cut short makes the next one redo
    // exactly what this one did not do.
    writeJsonFile(manifestPath, manifest);
    if (!batch.ok()) {
        const auto& path = uploads[batch.firstFailed].first;
        rethrowFor(batch.firstError,
                   "cannot upload " + (root / path).string() + " to " + prefix + path);
    }
    if (deletionError)
        rethrowFor(deletionError, "cannot delete the objects of files gone from " + root.string());
    return counts;
}

//! The state-area folder of a link entry: its name with `/` made `_`.
std::string slotOf(const std::string& entryName) {
    std::string slot = entryName;
    for (char& c : slot) {
        if (c == '/') c = '_';
    }
    return slot;
}

}  // namespace

WorkspaceService::WorkspaceService(WorkspaceLayout layout, ObjectStore& store)
    : layout_(std::move(layout)), store_(store) {
    createPrivateDirectories(layout_.stateDir);
}

std::string WorkspaceService::workspaceKey() const {
    return layout_.bucket + "/" + layout_.keyPrefix + "workspace/";
}

RestorePlan WorkspaceService::checkedPlan(const nlohmann::json& planJson) const {
    RestorePlan plan;
    try {
        plan = restorePlanFromJson(planJson);
    } catch (const ProblemError& e) {
        throw ApiError(400, e.problem());
    }
    if (auto problem = validateRestorePlan(plan, layout_.roots)) throw ApiError(422, *problem);
    if (plan.bucket != layout_.bucket || plan.keyPrefix != layout_.keyPrefix) {
        throw ApiError(422, {"restore_plan_rejected",
                             "the plan is for " + plan.bucket + "/" + plan.keyPrefix +
                                 ", not this worker's session",
                             "send the plan made for this session"});
    }
    return plan;
}

void WorkspaceService::restoreTree(const std::string& sourceKey, const fs::path& target,
                                   ConflictPolicy policy, const RestorePlan& plan,
                                   TreeRestore& counts) {
    // Every target is checked, and every conflict decided, before any file is written.
    std::vector<std::pair<ObjectInfo, fs::path>> downloads;
    std::set<fs::path> directories;
    for (const auto& object : store_.list(sourceKey)) {
        const fs::path destination = target / object.key.substr(sourceKey.size());
        checkTarget(destination, target, plan);
        if (fs::exists(fs::symlink_status(destination))) {
            if (policy == ConflictPolicy::KeepSession) {
                ++counts.kept;
                continue;
            }
            if (policy == ConflictPolicy::Fail) {
                throw ApiError(409, {"restore_conflict",
                                     destination.string() + " already exists and the entry's "
                                                            "conflict policy is `fail`",
                                     "remove the file or restore with keep_session"});
            }
        }
        directories.insert(destination.parent_path());
        downloads.emplace_back(object, destination);
    }
    // Made here, once each, rather than by concurrent downloads racing for the same ones.
    for (const auto& directory : directories) fs::create_directories(directory);
    // Each download lands whole or not at all (the store writes beside and renames), and
    // the store verifies its checksum first.
    std::vector<char> found(downloads.size(), 0);
    const auto batch =
        runTransfers(downloads.size(), store_.parallelTransfers(), [&](std::size_t i) {
            found[i] = store_.getFile(downloads[i].first.key, downloads[i].second.string());
        });
    if (!batch.ok()) {
        const auto& [object, destination] = downloads[batch.firstFailed];
        rethrowFor(batch.firstError,
                   "cannot restore " + object.key + " to " + destination.string());
    }
    for (std::size_t i = 0; i < downloads.size(); ++i) {
        if (!found[i]) continue;  // deleted since it was listed
        ++counts.files;
        counts.bytes += static_cast<std::int64_t>(downloads[i].first.size);
    }
}

RestoreAnswer WorkspaceService::restore(const nlohmann::json& planJson) {
    std::lock_guard lock(mutex_);
    const auto started = std::chrono::steady_clock::now();
    const RestorePlan plan = checkedPlan(planJson);
    TreeRestore counts;
    std::int64_t entries = 0;
    for (const auto& entry : plan.entries) {
        if (entry.mode != RestoreMode::Copy) continue;
        fs::create_directories(entry.targetPath);
        restoreTree(layout_.bucket + "/" + entry.sourceKeyPrefix, entry.targetPath,
                    entry.conflictPolicy, plan, counts);
        ++entries;
    }
    return {entries, counts.files, counts.bytes, counts.kept, millisSince(started)};
}

LinkAnswer WorkspaceService::link(const nlohmann::json& planJson) {
    std::lock_guard lock(mutex_);
    const auto started = std::chrono::steady_clock::now();
    const RestorePlan plan = checkedPlan(planJson);
    TreeRestore counts;
    std::int64_t linked = 0;
    nlohmann::json links = readLinks();
    for (const auto& entry : plan.entries) {
        if (entry.mode != RestoreMode::Link) continue;
        const std::string slot = slotOf(entry.name);
        const fs::path store = layout_.stateDir / "links" / slot;
        createPrivateDirectories(store);
        // Recorded before anything else: from now on every sync sends the slot to its key.
        const nlohmann::json record{{"name", entry.name},
                                    {"source_key_prefix", entry.sourceKeyPrefix},
                                    {"target", entry.targetPath}};
        if (links[slot] != record) {
            links[slot] = record;
            writeJsonFile(linksPath(), links);
        }
        restoreTree(layout_.bucket + "/" + entry.sourceKeyPrefix, store, entry.conflictPolicy, plan, counts);
        const fs::path target = entry.targetPath;
        const auto status = fs::symlink_status(target);
        if (fs::is_symlink(status) && fs::read_symlink(target) == store) continue;
        if (fs::exists(status)) {
            if (entry.conflictPolicy == ConflictPolicy::KeepSession) {
                ++counts.kept;
                continue;
            }
            if (entry.conflictPolicy == ConflictPolicy::Fail) {
                throw ApiError(409, {"restore_conflict", target.string() + " already exists",
                                     "remove it or restore with keep_session"});
            }
            fs::remove_all(target);
        }
        fs::create_directories(target.parent_path());
        fs::create_directory_symlink(store, target);
        ++linked;
    }
    return {linked, counts.files, counts.bytes, counts.kept, millisSince(started)};
}

ValidateAnswer WorkspaceService::validate(const nlohmann::json& request) {
    std::lock_guard lock(mutex_);
    std::vector<std::string> required;
    if (request.contains("entries")) {
        required = checkedPlan(request).requiredPaths;
    } else if (request.contains("required_paths") && request["required_paths"].is_array()) {
        for (const auto& path : request["required_paths"]) {
            if (!path.is_string()) throw ApiError(400, {"invalid_validation", "required paths must be strings", ""});
            const auto resolved = resolveRestorePath(path.get<std::string>(), layout_.roots);
            if (!resolved.ok()) throw ApiError(422, {"restore_path_rejected", resolved.fault, ""});
            required.push_back(resolved.path);
        }
    } else {
        throw ApiError(400, {"invalid_validation", "send {\"required_paths\": [...]} or a restore plan", ""});
    }
    ValidateAnswer answer;
    for (const auto& path : required) {
        if (!fs::exists(path)) answer.missingPaths.push_back(path);
    }
    return answer;
}

fs::path WorkspaceService::linksPath() const { return layout_.stateDir / "links.json"; }

nlohmann::json WorkspaceService::readLinks() const {
    std::ifstream in(linksPath());
    if (!in) return nlohmann::json::object();
    auto links = nlohmann::json::parse(in, nullptr, false);
    auto corrupt = [&](const std::string& why) {
        return ApiError(500, {"corrupt_executor_state", linksPath().string() + " " + why,
                              "remove the file and link the plan again"});
    };
    if (!links.is_object()) throw corrupt("is not a JSON object");
    for (const auto& [slot, record] : links.items()) {
        if (!record.is_object() || !record.contains("source_key_prefix") ||
            !record["source_key_prefix"].is_string() || slot.empty() || slot.find('/') != std::string::npos ||
            slot == "." || slot == "..") {
            throw corrupt("has a malformed entry \"" + slot + "\"");
        }
        const std::string key = record["source_key_prefix"];
        // Only this session's keys, whatever the file says.
        if (key.rfind(layout_.keyPrefix, 0) != 0 || key.back() != '/' || checkObjectKey(key, true)) {
            throw corrupt("names a key outside this session: " + key);
        }
    }
    return links;
}

SyncAnswer WorkspaceService::sync(const SyncRequest& request) {
    std::lock_guard lock(mutex_);
    const auto started = std::chrono::steady_clock::now();
    const bool full = request.mode == SyncMode::Full;
    SyncAnswer answer;
    answer.mode = request.mode;
    answer.reason = request.reason;
    answer.workspace = syncTree(store_, layout_.roots.workspaceRoot, workspaceKey(),
                                layout_.stateDir / "sync-manifest.json", full);
    // Every linked slot (the CLIs' state) goes to the key it is restored from, with a
    // manifest of its own.
    const nlohmann::json links = readLinks();
    for (const auto& [slot, record] : links.items()) {
        answer.agentState += syncTree(store_, layout_.stateDir / "links" / slot,
                                      layout_.bucket + "/" + record["source_key_prefix"].get<std::string>(),
                                      layout_.stateDir / "link-manifests" / (slot + ".json"), full);
    }
    answer.slots = static_cast<std::int64_t>(links.size());
    answer.total = answer.workspace;
    answer.total += answer.agentState;
    answer.durationMs = millisSince(started);
    return answer;
}

}  // namespace aw
