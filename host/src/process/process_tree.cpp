#include "process/process_tree.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

namespace aw {

std::map<pid_t, ProcessInfo> readProcessTable() {
    std::map<pid_t, ProcessInfo> table;
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator("/proc", error)) {
        const std::string name = entry.path().filename().string();
        if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::ifstream stat(entry.path() / "stat");
        std::string text;
        if (!std::getline(stat, text)) continue;
        const auto close = text.rfind(')');  // the command name may hold spaces and parens
        if (close == std::string::npos) continue;
        std::istringstream rest(text.substr(close + 1));
        ProcessInfo info;
        info.pid = static_cast<pid_t>(std::stol(name));
        if (rest >> info.state >> info.parent >> info.group) table.emplace(info.pid, info);
    }
    return table;
}

std::vector<pid_t> descendantsOf(pid_t root, const std::map<pid_t, ProcessInfo>& table) {
    std::multimap<pid_t, pid_t> children;
    for (const auto& [pid, info] : table) children.emplace(info.parent, pid);
    std::vector<pid_t> found;
    std::vector<pid_t> queue{root};
    while (!queue.empty()) {
        const pid_t pid = queue.back();
        queue.pop_back();
        const auto [begin, end] = children.equal_range(pid);
        for (auto it = begin; it != end; ++it) {
            found.push_back(it->second);
            queue.push_back(it->second);
        }
    }
    return found;
}

std::optional<std::string> startEnvironmentValue(pid_t pid, const std::string& name) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
    if (!in) return std::nullopt;
    const std::string environment((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::string wanted = name + "=";
    std::size_t start = 0;
    while (start < environment.size()) {
        auto end = environment.find('\0', start);
        if (end == std::string::npos) end = environment.size();
        if (environment.compare(start, wanted.size(), wanted) == 0) {
            return environment.substr(start + wanted.size(), end - start - wanted.size());
        }
        start = end + 1;
    }
    return std::nullopt;
}

std::size_t reapPids(const std::vector<pid_t>& pids) {
    std::size_t reaped = 0;
    for (const pid_t pid : pids) {
        if (::waitpid(pid, nullptr, WNOHANG) == pid) ++reaped;
    }
    return reaped;
}

std::size_t killLeftovers(const std::function<std::set<pid_t>(const ProcessTable&)>& spared,
                          const std::function<bool(pid_t)>& mayReap, std::mutex* guard, int rounds) {
    const pid_t self = ::getpid();
    std::set<pid_t> killed;
    for (int round = 0; round < rounds; ++round) {
        bool left = false;
        {
            std::unique_lock<std::mutex> lock;
            if (guard) lock = std::unique_lock(*guard);
            const auto table = readProcessTable();
            const auto keep = spared ? spared(table) : std::set<pid_t>{};
            for (const pid_t pid : descendantsOf(self, table)) {
                if (table.at(pid).state == 'Z' || keep.count(pid)) continue;
                left = true;
                if (::kill(pid, SIGKILL) == 0) killed.insert(pid);
            }
            reapZombieChildren(table, self, mayReap);
        }
        if (!left) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return killed.size();
}

}  // namespace aw
