// The codex-cli provider's table: name, version, capabilities and facts of `codex exec`. The C
// functions around the Translator come from the SDK's plugin kit (provider_plugin.hpp).
#include <agent_worker/provider_plugin.hpp>

#include "codex_cli_translator.h"

namespace aw::codex_cli {
namespace {

struct CodexCli {
    using Run = Translator;
    static constexpr const char* kName = "codex-cli";
    static constexpr const char* kVersion = "0.1.0";
    // `codex exec` streams, stops (SIGINT), resumes threads, reports its plan and usage. It
    // never asks a human (approvals live only in `codex app-server`, not driven here): no
    // HUMAN_LOOP. SIGINT ends it with exit 1 and no final line, so there is no graceful
    // interrupt either; the kit's default interrupt, {"signal":"INT"}, is what stops it.
    static constexpr uint64_t kCapabilities = AW_CAP_RUN | AW_CAP_STREAM | AW_CAP_STOP |
                                              AW_CAP_RESUME | AW_CAP_TODO | AW_CAP_USAGE |
                                              AW_CAP_LONG_PROMPT;
    static constexpr const char* kFacts = R"json({
  "binary": "codex",
  "package": "@openai/codex",
  "state_paths": ["~/.codex/sessions"],
  "state_paths_note": "under $CODEX_HOME/sessions when CODEX_HOME is set",
  "default_args": ["exec", "--json", "--skip-git-repo-check",
                   "--dangerously-bypass-approvals-and-sandbox"],
  "env_vars": ["OPENAI_API_KEY", "OPENAI_BASE_URL", "CODEX_HOME"],
  "modes": {"auto": "codex exec --json"}
})json";
    static constexpr const char* kAskRefusal =
        "codex-cli runs `codex exec`, which never asks a human (its approvals exist only in "
        "`codex app-server`, which this plugin does not drive): use approval_mode \"auto\", "
        "or the claude-code provider for runs that need approvals";
    static constexpr const char* kReplyRefusal =
        "codex-cli has no human loop: `codex exec` never asks for approval, so there is "
        "nothing to reply to (runs need approval_mode \"auto\")";
};

}  // namespace
}  // namespace aw::codex_cli

AW_PROVIDER_PLUGIN(aw::codex_cli::CodexCli)
