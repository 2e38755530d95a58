// The claude-code provider's table: name, version, capabilities and facts of Claude Code. The
// C functions around the Translator come from the SDK's plugin kit (provider_plugin.hpp).
#include <agent_worker/provider_plugin.hpp>

#include "claude_code_translator.h"

namespace aw::claude_code {
namespace {

struct ClaudeCode {
    using Run = Translator;
    static constexpr const char* kName = "claude-code";
    static constexpr const char* kVersion = "0.1.0";
    // Print mode and stdio mode both stream, stop, resume, report tasks and usage; stdio mode
    // adds the permission prompts (HUMAN_LOOP) and the interrupt control request that ends the
    // turn without killing anything (SIGINT in print mode also ends it cleanly with a result).
    static constexpr uint64_t kCapabilities =
        AW_CAP_RUN | AW_CAP_STREAM | AW_CAP_STOP | AW_CAP_RESUME | AW_CAP_HUMAN_LOOP | AW_CAP_TODO |
        AW_CAP_USAGE | AW_CAP_GRACEFUL_INTERRUPT | AW_CAP_LONG_PROMPT;
    static constexpr const char* kFacts = R"json({
  "binary": "claude",
  "package": "@anthropic-ai/claude-code",
  "state_paths": ["~/.claude/projects"],
  "default_args": ["-p", "--output-format", "stream-json", "--verbose"],
  "env_vars": ["ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"],
  "modes": {"auto": "print mode, --dangerously-skip-permissions",
            "ask": "stdio protocol mode, --permission-prompt-tool stdio"}
})json";
};

}  // namespace
}  // namespace aw::claude_code

AW_PROVIDER_PLUGIN(aw::claude_code::ClaudeCode)
