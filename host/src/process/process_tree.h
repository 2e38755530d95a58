// The processes below this one, read from /proc: what a child subreaper needs to find what
// a run left behind (orphans re-parented to it, children in sessions of their own) and to
// reap the orphans it adopted without taking the exit status of a child it waits for itself.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace aw {

struct ProcessInfo {
    pid_t pid = 0;
    pid_t parent = 0;
    pid_t group = 0;
    char state = 0;  //!< `Z` for a zombie
};

//! Every process visible in /proc, by pid (processes that vanish while reading are left out).
std::map<pid_t, ProcessInfo> readProcessTable();

//! The descendants of `root` in `table` (children, their children, ...), not `root` itself.
std::vector<pid_t> descendantsOf(pid_t root, const std::map<pid_t, ProcessInfo>& table);

//! The value of `name` in the environment `pid` was started with; nullopt when it has no
//! such variable or its environment cannot be read (a zombie, another user's process).
std::optional<std::string> startEnvironmentValue(pid_t pid, const std::string& name);

//! Waits for exactly these pids, without blocking; returns how many were reaped.
std::size_t reapPids(const std::vector<pid_t>& pids);

//! Reaps the zombie children of `self` for which `mayReap(pid)` is true: waitpid on each
//! pid, never waitpid(-1), so a child someone else waits for keeps its exit status.
template <typename Predicate>
std::size_t reapZombieChildren(const std::map<pid_t, ProcessInfo>& table, pid_t self, Predicate mayReap) {
    std::vector<pid_t> zombies;
    for (const auto& [pid, info] : table) {
        if (info.parent == self && info.state == 'Z' && mayReap(pid)) zombies.push_back(pid);
    }
    return reapPids(zombies);
}

using ProcessTable = std::map<pid_t, ProcessInfo>;

//! Kills (SIGKILL) what runs below this process, round after round until nothing is left
//! or `rounds` pass: every descendant except those `spared(table)` names, reaping the
//! zombie children `mayReap` allows. `guard`, when given, is held through each round (the
//! caller's bookkeeping of live processes). Returns how many processes it killed.
std::size_t killLeftovers(const std::function<std::set<pid_t>(const ProcessTable&)>& spared,
                          const std::function<bool(pid_t)>& mayReap, std::mutex* guard = nullptr,
                          int rounds = 50);

}  // namespace aw
