// The opencode provider's table: name, version, capabilities and facts of `opencode run`. The
// C functions around the Translator come from the SDK's plugin kit (provider_plugin.hpp).
#include <agent_worker/provider_plugin.hpp>

#include "opencode_translator.h"

namespace aw::opencode {
namespace {

struct Opencode {
    using Run = Translator;
    static constexpr const char* kName = "opencode";
    static constexpr const char* kVersion = "0.1.0";
    // `opencode run` streams, stops (by signal), resumes sessions, reports todos and per-step
    // usage. Its permission prompts are auto-rejected in `run` mode (prompts exist only in
    // `opencode serve`, not driven here): no HUMAN_LOOP. SIGINT kills it, leaving tool
    // children running, so there is no graceful interrupt either; the kit's default
    // interrupt, {"signal":"INT"}, is what stops it.
    static constexpr uint64_t kCapabilities = AW_CAP_RUN | AW_CAP_STREAM | AW_CAP_STOP |
                                              AW_CAP_RESUME | AW_CAP_TODO | AW_CAP_USAGE |
                                              AW_CAP_LONG_PROMPT;
    static constexpr const char* kFacts = R"json({
  "binary": "opencode",
  "package": "opencode-ai",
  "state_paths": ["~/.local/share/opencode"],
  "state_paths_note": "under $XDG_DATA_HOME/opencode when XDG_DATA_HOME is set (opencode.db)",
  "default_args": ["run", "--format", "json", "--thinking"],
  "env_vars": ["OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL",
               "OPENCODE_CONFIG", "XDG_CONFIG_HOME", "XDG_DATA_HOME"],
  "modes": {"auto": "opencode run --format json --auto"}
})json";
    static constexpr const char* kAskRefusal =
        "opencode runs `opencode run`, which auto-rejects every permission prompt (prompts "
        "exist only in `opencode serve`, which this plugin does not drive): use "
        "approval_mode \"auto\", or the claude-code provider for runs that need approvals";
    static constexpr const char* kReplyRefusal =
        "opencode has no human loop: `opencode run` auto-rejects permission prompts, so "
        "there is nothing to reply to (runs need approval_mode \"auto\")";
};

}  // namespace
}  // namespace aw::opencode

AW_PROVIDER_PLUGIN(aw::opencode::Opencode)
