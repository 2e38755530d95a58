// The protocol between agent-host and agent-provider-host, defined once for both.
//
//   handshake (provider-host -> host, the first line, text):
//       AWPH|<protocol>|<abi major>.<abi minor>|<name>|<version>|<capabilities>|<facts JSON>
//   refusal (instead of the handshake, then exit code 3):
//       AWPH-ERROR|<protocol>|<code>|<message>
//
// After the handshake both directions carry binary frames:
//
//   frame   = "AW" | kind (1 byte) | 0 | payload length (u32) | payload
//   kind J  = a JSON control message: a request {"id":N,"op":"ping"|"open"|"exit"|"reply"|
//             "interrupt"|"close","run":"R",...} or its response {"id":N,"ok":true,"result":
//             {...}} | {"id":N,"ok":false,"error":{"code","message","hint"}}
//   kind F  = a feed request: id (u64) | run (str) | line count (u32) | lines (str each)
//   kind O  = a feed's answer: id (u64) | output count (u32) | per line: tag (1 byte) | text
//             (str); tag D: the plugin's checked output document, tag E: the JSON object
//             {"error":{...},"stdin"?,"close_stdin"?} for a line it failed
//   str     = length (u32) | bytes;  integers are big-endian
//
// Lines and outputs travel as raw bytes, neither escaped nor parsed on the way: a feed costs
// the two processes little beyond the plugin's own work and agent-host's parse of what it
// keeps. Responses come in the order of the requests, matched by id, so agent-host keeps
// several frames in flight (ProviderProcess pipelines a feed's lines in several frames).
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "provider/loaded_provider.h"

namespace aw {

inline constexpr int kProviderProtocolVersion = 2;
//! agent-provider-host's exit code when it refuses a plugin (bad ABI, missing entry...).
inline constexpr int kProviderRefusedExitCode = 3;
//! agent-provider-host's exit code when its input is not frames of this protocol.
inline constexpr int kProviderBadInputExitCode = 4;
//! The largest request frame agent-provider-host accepts.
inline constexpr std::size_t kMaxRequestFrameBytes = 64 * 1024 * 1024;

std::string formatHandshake(const ProviderInfo& info);
std::string formatRefusal(const Problem& problem);

//! A parsed first line: either the provider's info or its refusal.
struct Handshake {
    std::optional<ProviderInfo> info;
    std::optional<Problem> refusal;
};

//! nullopt when `line` is neither a handshake nor a refusal of this protocol version.
std::optional<Handshake> parseHandshake(const std::string& line);

enum class FrameKind : char { Json = 'J', Feed = 'F', Outputs = 'O' };
inline constexpr std::size_t kFrameHeaderBytes = 8;

//! Bytes that are not a frame of this protocol, or a frame whose payload is malformed.
class FrameError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct Frame {
    FrameKind kind = FrameKind::Json;
    std::string payload;
};

std::string encodeFrame(FrameKind kind, std::string_view payload);

//! Cuts frames out of a byte stream, however it was split into reads.
class FrameReader {
public:
    explicit FrameReader(std::size_t maxPayloadBytes) : maxPayloadBytes_(maxPayloadBytes) {}
    void append(const char* data, std::size_t size) { buffer_.append(data, size); }
    //! The next complete frame, or nullopt until more bytes arrive. Throws FrameError on a
    //! header that is not one of ours or announces more than the limit, at once: neither
    //! waits for the rest.
    std::optional<Frame> next();
    //! Bytes received of a frame not yet complete.
    std::size_t pending() const { return buffer_.size() - start_; }

private:
    std::size_t maxPayloadBytes_;
    std::string buffer_;
    std::size_t start_ = 0;  //!< where the unread bytes begin (erased in bulk, not per frame)
};

//! A feed frame: the lines of one run, as they are.
struct FeedRequest {
    std::uint64_t id = 0;
    std::string_view run;
    std::vector<std::string_view> lines;  //!< views into the frame's payload
};

//! One line's answer: the plugin's output document, or the error object for the line.
struct FeedOutput {
    bool ok = true;
    std::string text;
};

struct FeedAnswer {
    std::uint64_t id = 0;
    std::vector<FeedOutput> outputs;
};

//! Builds a feed frame piece by piece, without copying the lines into anything else first.
class FeedFrameBuilder {
public:
    FeedFrameBuilder(std::uint64_t id, std::string_view run);
    void add(std::string_view line);
    std::size_t lines() const { return lines_; }
    std::size_t bytes() const { return frame_.size(); }
    //! The finished frame; the builder is spent.
    std::string take();

private:
    std::string frame_;
    std::size_t countAt_ = 0;
    std::uint32_t lines_ = 0;
};

//! Throw FrameError when the payload does not hold exactly what its kind says.
FeedRequest decodeFeedRequest(std::string_view payload);
FeedAnswer decodeFeedAnswer(std::string_view payload);
std::string encodeFeedAnswer(std::uint64_t id, const std::vector<FeedOutput>& outputs);
//! A feed answer's outputs as the run path reads them. The plugin's own text comes
//! unchecked: text that is not JSON is that line's error, and the run path checks the rest
//! (PluginOutputGate). Throws FrameError for an error output that is not an error object:
//! the provider-host writes every error itself.
nlohmann::json parseFeedOutputs(const std::vector<FeedOutput>& outputs);

//! `bytes` as a short, printable quote for an error message.
std::string quoteBytes(std::string_view bytes, std::size_t limit = 60);

}  // namespace aw
