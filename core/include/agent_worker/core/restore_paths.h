// Where restores may write inside a worker: the workspace and home roots, target paths
// resolved and normalised lexically against them, and the paths no restore may touch.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent_worker/core/problem.h"

namespace aw {

//! The two directories of a worker that restores may write into: absolute, normalised,
//! not `/`.
struct RestoreRoots {
    std::string workspaceRoot;  //!< e.g. `/workspace`
    std::string homeRoot;       //!< the agent's home, e.g. `/home/agent`
};

//! Empty when both roots are usable; otherwise `invalid_restore_roots` saying which not.
std::optional<Problem> checkRestoreRoots(const RestoreRoots& roots);

//! Paths no restore ever writes, whatever the configuration says: the executor's own
//! state (its token, its callback spool, its restore staging area).
const std::vector<std::string>& builtinProtectedPaths();

//! `path` with `.`, `..` and repeated '/' resolved without touching the filesystem (so a
//! symlink cannot change the answer). `path` must be absolute; `..` never climbs above `/`.
std::string lexicallyNormalAbsolute(std::string_view path);

//! `path` is `base` or lies below it (both normalised).
bool isSameOrInside(std::string_view path, std::string_view base);

//! A target path resolved against the roots, or why it could not be.
struct ResolvedPath {
    std::string path;   //!< absolute and normalised when `fault` is empty
    std::string fault;  //!< e.g. "resolves to /etc, outside the workspace and home roots"
    bool ok() const { return fault.empty(); }
};

//! Resolves a manifest path: `.` or relative -> under the workspace root, `~` or `~/x` ->
//! under the home root, absolute -> as is; then normalises lexically. With
//! `mustStayInsideRoots`, a result outside both roots is a fault.
ResolvedPath resolveRestorePath(std::string_view target, const RestoreRoots& roots,
                                bool mustStayInsideRoots = true);

}  // namespace aw
