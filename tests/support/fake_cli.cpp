#include "support/fake_cli.h"

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "support/temp_dir.h"

namespace aw::test {

std::filesystem::path writeScript(const std::filesystem::path& path, const std::string& body) {
    std::filesystem::create_directories(path.parent_path());
    {
        std::ofstream out(path, std::ios::trunc);
        out << "#!/bin/sh\n" << body;
        if (!out) throw std::runtime_error("cannot write " + path.string());
    }
    std::filesystem::permissions(
        path, std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                  std::filesystem::perms::group_exec | std::filesystem::perms::others_read |
                  std::filesystem::perms::others_exec);
    return path;
}

std::string shellQuote(const std::string& text) {
    std::string quoted = "'";
    for (char c : text) {
        if (c == '\'') {
            quoted += "'\\''";
        } else {
            quoted += c;
        }
    }
    return quoted + "'";
}

std::filesystem::path fixturePath(const std::string& name) {
    return std::filesystem::path(AW_SOURCE_DIR) / "tests" / "fixtures" / "providers" / name;
}

std::vector<std::string> fixtureLines(const std::string& name) {
    std::ifstream in(fixturePath(name));
    if (!in) throw std::runtime_error("missing fixture " + fixturePath(name).string());
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) {
        if (!line.empty()) lines.push_back(line);
    }
    return lines;
}

std::map<pid_t, std::string> processesUnder(const std::filesystem::path& dir) {
    std::map<pid_t, std::string> found;
    std::error_code error;
    const std::string root = std::filesystem::weakly_canonical(dir, error).string();
    for (const auto& entry : std::filesystem::directory_iterator("/proc", error)) {
        const std::string name = entry.path().filename().string();
        if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::error_code ignored;
        const std::string cwd =
            std::filesystem::read_symlink(entry.path() / "cwd", ignored).string();
        if (ignored) continue;
        if (cwd != root && cwd.rfind(root + "/", 0) != 0) continue;
        std::string command = readText(entry.path() / "cmdline");
        for (auto& ch : command) {
            if (ch == '\0') ch = ' ';
        }
        found[static_cast<pid_t>(std::stol(name))] = command;
    }
    return found;
}

bool processAlive(pid_t pid) {
    const std::string stat = readText("/proc/" + std::to_string(pid) + "/stat");
    if (stat.empty()) return false;
    const auto close = stat.rfind(')');
    if (close == std::string::npos || close + 2 >= stat.size()) return false;
    return stat[close + 2] != 'Z' && stat[close + 2] != 'X';
}

bool descendsFrom(pid_t pid, pid_t ancestor) {
    for (int depth = 0; depth < 64 && pid > 1; ++depth) {
        if (pid == ancestor) return true;
        const std::string stat = readText("/proc/" + std::to_string(pid) + "/stat");
        const auto close = stat.rfind(')');
        if (close == std::string::npos) return false;
        std::istringstream fields(stat.substr(close + 2));
        std::string state;
        long parent = 0;
        fields >> state >> parent;
        pid = static_cast<pid_t>(parent);
    }
    return pid == ancestor;
}

}  // namespace aw::test
