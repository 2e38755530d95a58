#include "provider/provider_protocol.h"

#include <algorithm>
#include <cstdio>
#include <vector>

namespace aw {
namespace {

void putU32(std::string& out, std::uint32_t value) {
    const char bytes[4] = {static_cast<char>(value >> 24), static_cast<char>(value >> 16),
                           static_cast<char>(value >> 8), static_cast<char>(value)};
    out.append(bytes, 4);
}

void putU64(std::string& out, std::uint64_t value) {
    putU32(out, static_cast<std::uint32_t>(value >> 32));
    putU32(out, static_cast<std::uint32_t>(value));
}

void setU32(std::string& out, std::size_t at, std::uint32_t value) {
    std::string bytes;
    putU32(bytes, value);
    out.replace(at, 4, bytes);
}

std::uint32_t getU32(const char* data) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(data);
    return static_cast<std::uint32_t>(bytes[0]) << 24 | static_cast<std::uint32_t>(bytes[1]) << 16 |
           static_cast<std::uint32_t>(bytes[2]) << 8 | static_cast<std::uint32_t>(bytes[3]);
}

//! Reads a payload front to back; running out of bytes is a malformed frame.
class PayloadReader {
public:
    PayloadReader(std::string_view payload, const char* what) : rest_(payload), what_(what) {}
    std::uint32_t u32() { return getU32(take(4).data()); }
    std::uint64_t u64() {
        const std::uint64_t high = u32();
        return high << 32 | u32();
    }
    char byte() { return take(1).front(); }
    std::string_view str() { return take(u32()); }
    //! Ends the payload: bytes left over are as wrong as bytes missing.
    void finish() const {
        if (!rest_.empty()) {
            throw FrameError(std::string(what_) + " frame has " + std::to_string(rest_.size()) +
                             " bytes after its last field");
        }
    }

private:
    std::string_view take(std::size_t size) {
        if (size > rest_.size()) {
            throw FrameError(std::string(what_) + " frame is truncated: a field needs " +
                             std::to_string(size) + " bytes, " + std::to_string(rest_.size()) +
                             " are left");
        }
        const auto taken = rest_.substr(0, size);
        rest_.remove_prefix(size);
        return taken;
    }

    std::string_view rest_;
    const char* what_;
};

//! Room for a frame header, filled in by finishFrame once the payload's size is known.
std::string startFrame(FrameKind kind) {
    std::string frame = {'A', 'W', static_cast<char>(kind), 0};
    putU32(frame, 0);
    return frame;
}

void finishFrame(std::string& frame) {
    setU32(frame, 4, static_cast<std::uint32_t>(frame.size() - kFrameHeaderBytes));
}

void putStr(std::string& out, std::string_view bytes) {
    putU32(out, static_cast<std::uint32_t>(bytes.size()));
    out.append(bytes);
}

//! Splits off the first `fields - 1` '|'-separated fields; the last keeps any '|'.
std::vector<std::string> splitFields(const std::string& line, std::size_t fields) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (out.size() + 1 < fields) {
        const auto bar = line.find('|', start);
        if (bar == std::string::npos) break;
        out.push_back(line.substr(start, bar - start));
        start = bar + 1;
    }
    out.push_back(line.substr(start));
    return out;
}

std::string oneLine(std::string text) {
    for (char& c : text) {
        if (c == '\n' || c == '\r') c = ' ';
    }
    return text;
}

}  // namespace

std::string formatHandshake(const ProviderInfo& info) {
    return "AWPH|" + std::to_string(kProviderProtocolVersion) + "|" +
           std::to_string(info.abiMajor) + "." + std::to_string(info.abiMinor) + "|" + info.name +
           "|" + oneLine(info.version) + "|" + std::to_string(info.capabilities) + "|" +
           info.facts.dump();
}

std::string formatRefusal(const Problem& problem) {
    // The hint travels too: it is what tells an operator what to do.
    return "AWPH-ERROR|" + std::to_string(kProviderProtocolVersion) + "|" + problem.code + "|" +
           oneLine(problem.message) + (problem.hint.empty() ? "" : " (" + oneLine(problem.hint) + ")");
}

std::optional<Handshake> parseHandshake(const std::string& line) {
    const std::string version = std::to_string(kProviderProtocolVersion);
    if (line.rfind("AWPH-ERROR|", 0) == 0) {
        const auto fields = splitFields(line, 4);
        if (fields.size() != 4 || fields[1] != version) return std::nullopt;
        return Handshake{std::nullopt, Problem{fields[2], fields[3], ""}};
    }
    if (line.rfind("AWPH|", 0) != 0) return std::nullopt;
    const auto fields = splitFields(line, 7);
    if (fields.size() != 7 || fields[1] != version) return std::nullopt;
    ProviderInfo info;
    const auto dot = fields[2].find('.');
    try {
        if (dot == std::string::npos) return std::nullopt;
        info.abiMajor = std::stoi(fields[2].substr(0, dot));
        info.abiMinor = std::stoi(fields[2].substr(dot + 1));
        info.capabilities = std::stoull(fields[5]);
    } catch (const std::exception&) {
        return std::nullopt;
    }
    info.name = fields[3];
    info.version = fields[4];
    info.facts = nlohmann::json::parse(fields[6], nullptr, false);
    if (!isValidProviderName(info.name) || !info.facts.is_object()) return std::nullopt;
    return Handshake{info, std::nullopt};
}

std::string encodeFrame(FrameKind kind, std::string_view payload) {
    std::string frame = startFrame(kind);
    frame.append(payload);
    finishFrame(frame);
    return frame;
}

std::optional<Frame> FrameReader::next() {
    if (pending() < kFrameHeaderBytes) return std::nullopt;
    const char* header = buffer_.data() + start_;
    const char kind = header[2];
    if (header[0] != 'A' || header[1] != 'W' || header[3] != 0 ||
        (kind != 'J' && kind != 'F' && kind != 'O')) {
        throw FrameError(
            "expected a frame, got " +
            quoteBytes(std::string_view(header, std::min<std::size_t>(pending(), 60))));
    }
    const std::size_t size = getU32(header + 4);
    if (size > maxPayloadBytes_) {
        throw FrameError("announced a frame of " + std::to_string(size) +
                         " bytes, over the limit of " + std::to_string(maxPayloadBytes_));
    }
    if (pending() < kFrameHeaderBytes + size) return std::nullopt;
    Frame frame{static_cast<FrameKind>(kind), buffer_.substr(start_ + kFrameHeaderBytes, size)};
    start_ += kFrameHeaderBytes + size;
    // Erase what was read once it is most of the buffer: frames cost no erase each.
    if (start_ == buffer_.size() || start_ > buffer_.size() / 2) {
        buffer_.erase(0, start_);
        start_ = 0;
    }
    return frame;
}

FeedFrameBuilder::FeedFrameBuilder(std::uint64_t id, std::string_view run)
    : frame_(startFrame(FrameKind::Feed)) {
    putU64(frame_, id);
    putStr(frame_, run);
    countAt_ = frame_.size();
    putU32(frame_, 0);
}

void FeedFrameBuilder::add(std::string_view line) {
    putStr(frame_, line);
    ++lines_;
}

std::string FeedFrameBuilder::take() {
    setU32(frame_, countAt_, lines_);
    finishFrame(frame_);
    return std::move(frame_);
}

FeedRequest decodeFeedRequest(std::string_view payload) {
    PayloadReader reader(payload, "feed");
    FeedRequest request;
    request.id = reader.u64();
    request.run = reader.str();
    const std::uint32_t count = reader.u32();
    // Every line takes at least its length: a count beyond that is a lie, not an allocation.
    if (count > payload.size() / 4) {
        throw FrameError("feed frame announces " + std::to_string(count) + " lines");
    }
    request.lines.reserve(count);
    for (std::uint32_t i = 0; i < count; ++i) request.lines.push_back(reader.str());
    reader.finish();
    return request;
}

std::string encodeFeedAnswer(std::uint64_t id, const std::vector<FeedOutput>& outputs) {
    std::string frame = startFrame(FrameKind::Outputs);
    putU64(frame, id);
    putU32(frame, static_cast<std::uint32_t>(outputs.size()));
    for (const auto& output : outputs) {
        frame.push_back(output.ok ? 'D' : 'E');
        putStr(frame, output.text);
    }
    finishFrame(frame);
    return frame;
}

FeedAnswer decodeFeedAnswer(std::string_view payload) {
    PayloadReader reader(payload, "feed answer");
    FeedAnswer answer;
    answer.id = reader.u64();
    const std::uint32_t count = reader.u32();
    if (count > payload.size() / 5) {
        throw FrameError("feed answer frame announces " + std::to_string(count) + " outputs");
    }
    answer.outputs.reserve(count);
    for (std::uint32_t i = 0; i < count; ++i) {
        const char tag = reader.byte();
        if (tag != 'D' && tag != 'E') {
            throw FrameError("feed answer frame tags output " + std::to_string(i) + " with " +
                             quoteBytes(std::string_view(&tag, 1)));
        }
        answer.outputs.push_back({tag == 'D', std::string(reader.str())});
    }
    reader.finish();
    return answer;
}

nlohmann::json parseFeedOutputs(const std::vector<FeedOutput>& outputs) {
    nlohmann::json parsed = nlohmann::json::array();
    for (std::size_t i = 0; i < outputs.size(); ++i) {
        auto output = nlohmann::json::parse(outputs[i].text, nullptr, false);
        if (outputs[i].ok && output.is_discarded()) {
            output = {{"error",
                       {{"code", "invalid_plugin_output"},
                        {"message",
                         "the plugin's feed output is not JSON: " + quoteBytes(outputs[i].text)},
                        {"hint", "fix the plugin's output encoding"}}}};
        } else if (!outputs[i].ok && !(output.is_object() && output.contains("error"))) {
            throw FrameError(
                "output " + std::to_string(i) +
                " of a feed answer is not an error object: " + quoteBytes(outputs[i].text));
        }
        parsed.push_back(std::move(output));
    }
    return parsed;
}

std::string quoteBytes(std::string_view bytes, std::size_t limit) {
    std::string quoted = "'";
    for (const char c : bytes.substr(0, limit)) {
        if (c >= 0x20 && c < 0x7f) {
            quoted += c;
        } else {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\x%02x", static_cast<unsigned char>(c));
            quoted += escaped;
        }
    }
    return quoted + (bytes.size() > limit ? "'..." : "'");
}

}  // namespace aw
