#include "agent_worker/core/restore_paths.h"

#include <vector>

namespace aw {
namespace {

bool hasControlCharacter(std::string_view text) {
    for (char c : text) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
    }
    return false;
}

std::optional<std::string> rootFault(std::string_view root) {
    if (root.empty()) return std::string("is empty");
    if (hasControlCharacter(root)) return std::string("contains a control character");
    if (root.front() != '/') return std::string("is not absolute");
    if (lexicallyNormalAbsolute(root) != root) return std::string("is not normalised");
    if (root == "/") return std::string("is the filesystem root");
    return std::nullopt;
}

}  // namespace

std::optional<Problem> checkRestoreRoots(const RestoreRoots& roots) {
    for (const auto& [name, root] :
         {std::pair<std::string_view, const std::string&>{"workspace root", roots.workspaceRoot},
          {"home root", roots.homeRoot}}) {
        if (auto fault = rootFault(root)) {
            std::string message(name);
            message += " \"";
            message += root;
            message += "\" ";
            message += *fault;
            return Problem{"invalid_restore_roots", std::move(message),
                           "configure absolute, normalised directories other than / for the "
                           "worker's workspace and home"};
        }
    }
    return std::nullopt;
}

const std::vector<std::string>& builtinProtectedPaths() {
    static const std::vector<std::string> paths{"~/.agent-executor"};
    return paths;
}

std::string lexicallyNormalAbsolute(std::string_view path) {
    std::vector<std::string_view> segments;
    std::size_t start = 0;
    while (start <= path.size()) {
        const std::size_t end = std::min(path.find('/', start), path.size());
        const std::string_view segment = path.substr(start, end - start);
        if (segment == "..") {
            if (!segments.empty()) segments.pop_back();
        } else if (!segment.empty() && segment != ".") {
            segments.push_back(segment);
        }
        start = end + 1;
    }
    if (segments.empty()) return "/";
    std::string normal;
    for (std::string_view segment : segments) {
        normal += '/';
        normal += segment;
    }
    return normal;
}

bool isSameOrInside(std::string_view path, std::string_view base) {
    if (base == "/") return !path.empty() && path.front() == '/';
    return path == base ||
           (path.size() > base.size() && path.starts_with(base) && path[base.size()] == '/');
}

ResolvedPath resolveRestorePath(std::string_view target, const RestoreRoots& roots,
                                bool mustStayInsideRoots) {
    if (target.empty()) return {{}, "is empty"};
    if (hasControlCharacter(target)) return {{}, "contains a control character"};
    std::string joined;
    if (target == "~" || target.starts_with("~/")) {
        joined = roots.homeRoot;
        joined += target.substr(1);
    } else if (target.front() == '~') {
        return {{}, "starts with '~' but not \"~/\"; only the agent's own home is understood"};
    } else if (target.front() == '/') {
        joined = target;
    } else {
        joined = roots.workspaceRoot;
        joined += '/';
        joined += target;
    }
    std::string normal = lexicallyNormalAbsolute(joined);
    if (mustStayInsideRoots && !isSameOrInside(normal, roots.workspaceRoot) &&
        !isSameOrInside(normal, roots.homeRoot)) {
        std::string fault = "resolves to " + normal + ", outside the workspace root ";
        fault += roots.workspaceRoot;
        fault += " and the home root ";
        fault += roots.homeRoot;
        return {{}, std::move(fault)};
    }
    return {std::move(normal), {}};
}

}  // namespace aw
