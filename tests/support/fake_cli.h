// Fake agent CLIs and what they leave behind: shell scripts printing recorded CLI streams
// (tests/fixtures/providers), and the processes found under a worker's directory.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace aw::test {

//! A shell script (mode 0755) at `path` with `body` after the #! line.
std::filesystem::path writeScript(const std::filesystem::path& path, const std::string& body);
//! POSIX single-quoted `text` for a shell script.
std::string shellQuote(const std::string& text);

//! tests/fixtures/providers/<name>: the recorded CLI stream's lines.
std::vector<std::string> fixtureLines(const std::string& name);
std::filesystem::path fixturePath(const std::string& name);

//! Processes whose working directory is `dir` or below it: pid -> command line.
std::map<pid_t, std::string> processesUnder(const std::filesystem::path& dir);
//! True while /proc/<pid> exists and is not a zombie.
bool processAlive(pid_t pid);
//! True when `ancestor` is `pid` or one of its parents (by /proc/<pid>/stat).
bool descendsFrom(pid_t pid, pid_t ancestor);

}  // namespace aw::test
