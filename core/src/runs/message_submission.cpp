#include "agent_worker/core/runs/message_submission.h"

#include <algorithm>

#include "agent_worker/core/capabilities.h"
#include "agent_worker/core/identifiers.h"
#include "agent_worker/core/random_id.h"

namespace aw {
namespace {

std::string joinedOrNone(const std::vector<std::string>& names) {
    std::string text;
    for (const auto& name : names) text += (text.empty() ? "" : ", ") + name;
    return text.empty() ? std::string("none") : text;
}

std::vector<std::string> namesWith(const std::vector<ProviderListing>& all, std::uint64_t bits) {
    std::vector<std::string> names;
    for (const auto& listing : all) {
        if (listing.name && (listing.capabilities & bits) == bits) names.push_back(*listing.name);
    }
    return names;
}

}  // namespace

void MessageSubmission::check(const MessageRequest& request) const {
    if (auto problem = checkIdentifier("session", request.sessionId)) {
        throw Refused(RefusalKind::InvalidInput, *problem);
    }
    if (request.prompt.empty()) {
        throw Refused(RefusalKind::InvalidInput,
                      {"invalid_message", "\"prompt\" is empty", "send the user's message as \"prompt\""});
    }
    // Refused here rather than accepted and failed when the executor cannot start the CLI.
    if (const auto nul = request.prompt.find('\0'); nul != std::string::npos) {
        throw Refused(
            RefusalKind::InvalidInput,
            {"invalid_message", "\"prompt\" holds a NUL byte at offset " + std::to_string(nul),
             "an agent CLI takes its prompt as text (a command-line argument, or its stdin), in "
             "which NUL (\\u0000) has no place; remove it"});
    }
    if (request.approvalMode != "auto" && request.approvalMode != "ask") {
        throw Refused(RefusalKind::InvalidInput,
                      {"invalid_message",
                       "\"approval_mode\" is '" + request.approvalMode + "', expected auto or ask", ""});
    }
    const auto all = providers_.list();
    const auto provider = providers_.find(request.provider);
    if (!provider || !provider->name) {
        // A plugin that has not handshaken yet has no name: it may be this provider.
        const bool starting = std::any_of(all.begin(), all.end(), [](const ProviderListing& listing) {
            return !listing.name && (listing.status == ProviderStatus::Starting ||
                                     listing.status == ProviderStatus::Restarting);
        });
        if (starting) {
            throw Refused(RefusalKind::Unavailable,
                          {"provider_unavailable",
                           "no provider named '" + request.provider +
                               "' has started yet, and some plugins are still starting",
                           "retry in a moment; GET /admin/providers shows their status"});
        }
        throw Refused(RefusalKind::NotFound,
                      {"unknown_provider", "no provider named '" + request.provider + "'",
                       "loaded providers: " + joinedOrNone(namesWith(all, 0)) + " (GET /admin/providers)"});
    }
    if (provider->status != ProviderStatus::Healthy && provider->status != ProviderStatus::Restarting &&
        provider->status != ProviderStatus::Starting) {
        throw Refused(RefusalKind::Unavailable,
                      {"provider_unavailable",
                       "provider '" + request.provider + "' is " + toString(provider->status) +
                           (provider->lastError.empty() ? "" : ": " + provider->lastError),
                       "an operator can restart it: POST /admin/providers/" + request.provider + "/restart"});
    }
    if ((provider->capabilities & capabilityBit("run")) == 0) {
        throw Refused(RefusalKind::Unprocessable,
                      {"capability_missing", "provider '" + request.provider + "' cannot run agents",
                       "pick a provider with the RUN capability"});
    }
    const auto longPrompt = capabilityBit("long_prompt");
    if (request.prompt.size() > kMaxPromptArgumentBytes &&
        (provider->capabilities & longPrompt) == 0) {
        throw Refused(RefusalKind::InvalidInput,
                      {"invalid_message",
                       "\"prompt\" is " + std::to_string(request.prompt.size()) +
                           " bytes, over the limit of " + std::to_string(kMaxPromptArgumentBytes) +
                           " for provider '" + request.provider + "'",
                       "provider '" + request.provider +
                           "' passes the prompt to its CLI as one command-line argument, which "
                           "Linux caps at 128 KiB (no LONG_PROMPT capability); shorten it, put the "
                           "long text in a file in the workspace and refer to it, or use a "
                           "provider that takes long prompts: " +
                           joinedOrNone(namesWith(all, longPrompt))});
    }
    const auto humanLoop = capabilityBit("human_loop");
    if (request.approvalMode == "ask" && (provider->capabilities & humanLoop) == 0) {
        throw Refused(RefusalKind::Unprocessable,
                      {"capability_missing",
                       "provider '" + request.provider +
                           "' cannot ask a human for approval (no HUMAN_LOOP capability)",
                       "use approval_mode \"auto\", or a provider that can ask: " +
                           joinedOrNone(namesWith(all, humanLoop))});
    }
}

CreatedRun MessageSubmission::submit(const MessageRequest& request, std::int64_t nowMs) {
    check(request);
    NewRun run;
    run.runId = newRandomId("run_");
    run.sessionId = request.sessionId;
    run.tenantId = options_.placement.tenantId;
    run.runtime = options_.placement.runtime;
    run.workspaceS3Prefix = options_.placement.workspacePrefix(request.sessionId);
    run.provider = request.provider;
    run.prompt = request.prompt;
    run.model = request.model;
    run.approvalMode = request.approvalMode;
    run.idempotencyKey = request.idempotencyKey;
    run.enqueueKey = request.enqueueKey.empty() ? run.runId : request.enqueueKey;
    run.maxAttempts = options_.maxAttempts;
    run.nowMs = nowMs;
    return store_.createRun(run);
}

}  // namespace aw
