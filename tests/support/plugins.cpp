#include "support/plugins.h"

namespace aw::test {

std::filesystem::path testPlugin(const std::string& file) {
    return std::filesystem::path(AW_BUILD_DIR) / "tests" / "plugins" / (file + ".so");
}

std::filesystem::path shippedPlugin(const std::string& name) {
    return std::filesystem::path(AW_BUILD_DIR) / "plugins" / (name + ".so");
}

std::string providerHostBinary() { return std::string(AW_BUILD_DIR) + "/bin/agent-provider-host"; }

std::filesystem::path dropPlugin(const std::filesystem::path& plugin,
                                 const std::filesystem::path& dir, const std::string& as) {
    const auto temporary = dir / ("." + as + ".tmp");
    std::filesystem::copy_file(plugin, temporary, std::filesystem::copy_options::overwrite_existing);
    std::filesystem::rename(temporary, dir / as);
    return dir / as;
}

}  // namespace aw::test
