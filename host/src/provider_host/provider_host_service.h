// agent-provider-host's request dispatcher: one protocol request in, one response out,
// against one loaded plugin. Served mode and replay mode both go through it.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "provider/loaded_provider.h"
#include "provider/provider_protocol.h"

namespace aw {

class ProviderHostService {
public:
    explicit ProviderHostService(LoadedProvider& provider) : provider_(provider) {}
    ~ProviderHostService();

    //! Never throws: every failure becomes {"id","ok":false,"error":{...}}.
    nlohmann::json handle(const nlohmann::json& request);
    //! Run `run`'s lines: one output per line, in order, each the plugin's text as is, or the
    //! line's error. `checkHere`: only outputs that are JSON and pass the check of
    //! core/plugin_output_check.h (for callers that trust this process's word); otherwise the
    //! reader checks them, as agent-host does (LoadedProvider::feedText). Throws ProblemError
    //! (`bad_request`) when the run is not open.
    std::vector<FeedOutput> feed(std::string_view run, const std::vector<std::string_view>& lines,
                                 bool checkHere);

    //! The frame answering a feed frame: its outputs, or the error response when feed throws.
    std::string answerFeed(const FeedRequest& request);

private:
    nlohmann::json dispatch(const std::string& op, const nlohmann::json& request);
    aw_run* runFor(const std::string& key) const;

    LoadedProvider& provider_;
    std::map<std::string, aw_run*> runs_;
};

}  // namespace aw
