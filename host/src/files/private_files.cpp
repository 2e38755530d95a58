#include "files/private_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace aw {

void createPrivateDirectories(const std::filesystem::path& dir, std::error_code& error) {
    error.clear();
    struct stat info {};
    if (dir.empty() || ::stat(dir.c_str(), &info) == 0) return;  // a file in the way fails later
    if (errno != ENOENT) {
        error = std::error_code(errno, std::generic_category());
        return;
    }
    createPrivateDirectories(dir.parent_path(), error);
    if (error) return;
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
        error = std::error_code(errno, std::generic_category());
    }
}

void createPrivateDirectories(const std::filesystem::path& dir) {
    std::error_code error;
    createPrivateDirectories(dir, error);
    if (error) throw std::filesystem::filesystem_error("cannot create directory", dir, error);
}

void createPrivateFile(const std::filesystem::path& file) {
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) ::close(fd);
}

std::ofstream openPrivateFile(const std::filesystem::path& file, std::ios::openmode mode) {
    createPrivateFile(file);
    return std::ofstream(file, mode);
}

}  // namespace aw
