// agent-provider-host's request dispatcher: one protocol request in, one response out,
// against one loaded plugin. Served mode and replay mode both go through it.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <string>

#include "provider/loaded_provider.h"

namespace aw {

class ProviderHostService {
public:
    explicit ProviderHostService(LoadedProvider& provider) : provider_(provider) {}
    ~ProviderHostService();

    //! Never throws: every failure becomes {"id","ok":false,"error":{...}}.
    nlohmann::json handle(const nlohmann::json& request);
    //! handle(), as the single line to send. Feed responses embed the plugin's output text
    //! as is (once it passed the check of core/plugin_output_check.h), sparing a dump per line.
    std::string handleLine(const nlohmann::json& request);

private:
    nlohmann::json dispatch(const std::string& op, const nlohmann::json& request);
    aw_run* runFor(const nlohmann::json& request) const;
    std::string feedLine(const nlohmann::json& request);

    LoadedProvider& provider_;
    std::map<std::string, aw_run*> runs_;
};

}  // namespace aw
