// The operator console's files, embedded into agent-host at build time
// (cmake/EmbedConsole.cmake from host/console/).
#pragma once

#include <string_view>
#include <vector>

namespace aw {

struct ConsoleAsset {
    std::string_view name;         //!< the file name, e.g. `console.js`
    std::string_view contentType;  //!< from its extension
    std::string_view bytes;
};

//! Every file of host/console/, sorted by name.
const std::vector<ConsoleAsset>& consoleAssets();

}  // namespace aw
