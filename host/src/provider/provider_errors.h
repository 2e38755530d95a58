// Why a provider is not serving, as the machine-readable `error_code` of its row in
// GET /admin/providers, and what an operator can do about each reason. Refusals come from
// agent-provider-host's handshake (LoadedProvider::load); the rest from the supervisor and
// the provider process. Listed in docs/plugin-sdk.md and docs/api.md.
#pragma once

#include <string>
#include <string_view>

namespace aw::provider_error {

// Refused while loading (status `failed`): the file itself is wrong, so restarting it
// gives the same answer; only a new file (or, for a missing library, fixing the machine)
// helps.
inline constexpr std::string_view kPluginLoadFailed = "plugin_load_failed";
inline constexpr std::string_view kMissingEntry = "missing_entry";
inline constexpr std::string_view kEntryReturnedNull = "entry_returned_null";
inline constexpr std::string_view kAbiMismatch = "abi_mismatch";
inline constexpr std::string_view kTableTooSmall = "table_too_small";
inline constexpr std::string_view kInvalidName = "invalid_name";
inline constexpr std::string_view kIncompleteTable = "incomplete_table";
inline constexpr std::string_view kInvalidFacts = "invalid_facts";
// Refused by the supervisor (status `failed`).
inline constexpr std::string_view kDuplicateName = "duplicate_name";
inline constexpr std::string_view kProviderHostMissing = "provider_host_missing";
// Crashes and hangs (status `restarting`, then `degraded` at the crash limit).
inline constexpr std::string_view kCrashedOnLoad =
    "crashed_on_load";                                              //!< died before its handshake
inline constexpr std::string_view kStartTimeout = "start_timeout";  //!< no handshake in time
inline constexpr std::string_view kBadHandshake = "bad_handshake";  //!< first line not a handshake
inline constexpr std::string_view kCrashed = "crashed";             //!< died while serving
inline constexpr std::string_view kHung = "hung";  //!< missed a heartbeat or a request's deadline
inline constexpr std::string_view kProtocolError = "protocol_error";  //!< broke the line protocol
// Status `removed`.
inline constexpr std::string_view kFileRemoved = "file_removed";

//! True for the codes of a plugin file that was refused as it is: restarting the same file
//! cannot change the outcome.
bool isRefusalOfTheFile(std::string_view code);

//! What to do about a provider `name` that is not serving because of `code` (any of the
//! above; unknown codes get the generic advice).
std::string hintFor(std::string_view code, const std::string& name);

}  // namespace aw::provider_error
