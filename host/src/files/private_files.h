// Files and directories for their owner alone. What the programs keep on disk (the
// database, worker state, the output spool, the object store) holds tokens, prompts, an
// agent's output and a session's files: the modes are given where each is created, so they
// do not depend on the umask a program was started with.
#pragma once

#include <filesystem>
#include <fstream>
#include <system_error>

namespace aw {

//! std::filesystem::create_directories, with the directories it creates 0700 (the ones
//! that exist are left as they are). Throws std::filesystem::filesystem_error, or sets
//! `error`.
void createPrivateDirectories(const std::filesystem::path& dir);
void createPrivateDirectories(const std::filesystem::path& dir, std::error_code& error);

//! Creates `file` empty and 0600 unless it exists (then it is left as it is). A failure is
//! not reported here: it shows when the file is opened.
void createPrivateFile(const std::filesystem::path& file);

//! An ofstream on `file` (`mode` as for std::ofstream), which is created 0600 if new.
std::ofstream openPrivateFile(const std::filesystem::path& file, std::ios::openmode mode);

}  // namespace aw
