// Turns the JSON lines of `opencode run --format json` (step/text/tool parts) into the unified
// events of docs/events.md.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "opencode_request.h"

namespace aw::opencode {

//! One run of `opencode run`: the Run class of the plugin kit (provider_plugin.hpp). It has no
//! reply() (no human loop) and no interrupt(): the kit's default, SIGINT, stops the CLI.
class Translator {
public:
    explicit Translator(RunRequest request);

    Json invocation() const { return buildInvocation(request_); }
    //! One stdout line (no newline). Never throws for any line content.
    Output feed(std::string_view line);
    //! The final events, exactly one of them terminal.
    Output exit(int32_t exitCode, int32_t signal, bool stopRequested);

private:
    struct Usage {
        int64_t input = 0;
        int64_t output = 0;
        int64_t cacheRead = 0;
        int64_t cacheWrite = 0;
        int64_t reasoning = 0;
        double cost = 0;
        int64_t steps = 0;
    };

    void dispatch(const Json& line, Output& out);
    void noteSession(const Json& line, Output& out);
    void onText(const Json& part, const std::string& kind, Output& out);
    void onTool(const Json& part, Output& out);
    void onStepFinish(const Json& part, Output& out);
    void onError(const Json& line);
    Json usageJson() const;

    RunRequest request_;
    JsonLines lines_;
    std::string sessionId_;
    std::map<std::string, std::string> toolNames_;  // call id -> tool, once started
    UnfinishedTools unfinishedTools_;
    int64_t anonymousParts_ = 0;
    std::string lastText_;
    Usage usage_;
    std::string errorName_;
    std::string errorMessage_;
    int64_t errorStatus_ = 0;
};

}  // namespace aw::opencode
