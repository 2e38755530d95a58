#include "provider/provider_errors.h"

#include "agent_worker/provider_abi.h"

namespace aw::provider_error {

bool isRefusalOfTheFile(std::string_view code) {
    for (const auto refusal : {kPluginLoadFailed, kMissingEntry, kEntryReturnedNull, kAbiMismatch,
                               kTableTooSmall, kInvalidName, kIncompleteTable, kInvalidFacts}) {
        if (code == refusal) return true;
    }
    return false;
}

std::string hintFor(std::string_view code, const std::string& name) {
    const std::string dropNewFile =
        "drop the new file into the plugins directory (atomically: copy to .<name>.so.tmp, then "
        "mv); a restart would load the same file again and cannot fix it";
    if (code == kAbiMismatch || code == kEntryReturnedNull || code == kTableTooSmall) {
        return "rebuild the plugin against the current provider_abi.h (ABI " +
               std::to_string(AW_PROVIDER_ABI_MAJOR) + "." + std::to_string(AW_PROVIDER_ABI_MINOR) +
               ", docs/plugin-sdk.md) and " + dropNewFile;
    }
    if (code == kPluginLoadFailed) {
        return "install the libraries the plugin needs, then POST /admin/providers/" + name +
               "/restart; or rebuild it for this machine and " + dropNewFile;
    }
    if (isRefusalOfTheFile(code)) {
        return "fix the plugin as its last_error says, rebuild it and " + dropNewFile;
    }
    if (code == kDuplicateName) {
        return "remove one of the two files claiming the name, or rename one provider and drop "
               "the new file; POST /admin/providers/" +
               name + "/restart once the name is free";
    }
    if (code == kProviderHostMissing) {
        return "build agent-provider-host or set provider_host_binary, then POST "
               "/admin/providers/" +
               name + "/restart";
    }
    if (code == kFileRemoved) return "drop a plugin file for it into the plugins directory";
    return "fix or replace the plugin (see its last_error in GET /admin/providers), then POST "
           "/admin/providers/" +
           name + "/restart";
}

}  // namespace aw::provider_error
