// A stand-in for agent-provider-host that handshakes correctly, answers control requests,
// and then gets the feed wrong in the way its --plugin argument names (the file's stem):
//   garbage          text where a frame belongs
//   oversized        a frame header announcing 1 GiB
//   truncated        a feed answer whose payload ends before its last output
//   die-mid-frame    half an answer frame, then SIGKILL
//   stall-mid-frame  half an answer frame, then silence
//   stranger         a response to a request never sent
//   wrong-count      one output fewer than the lines it was fed
//   bad-error        an error output that is not JSON (only the provider-host writes errors)
//   garbled-output   a plugin's output that is not JSON (not a lie of the process: that
//                    line's error)
//   honest           answers every line with an empty output (the control case)
// agent-host must fail such a process with a clear error and carry on (garbled-output aside).
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "provider/provider_protocol.h"

namespace {

void writeAll(std::string_view bytes) {
    while (!bytes.empty()) {
        const auto n = ::write(STDOUT_FILENO, bytes.data(), bytes.size());
        if (n <= 0) std::_Exit(0);
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
}

std::string jsonAnswer(const nlohmann::json& request) {
    nlohmann::json result = nlohmann::json::object();
    if (request.value("op", "") == "open") result = {{"invocation", {{"argv", {"cat"}}}}};
    return aw::encodeFrame(
        aw::FrameKind::Json,
        nlohmann::json{{"id", request["id"]}, {"ok", true}, {"result", result}}.dump());
}

void answerFeed(const std::string& mode, const aw::FeedRequest& feed) {
    std::vector<aw::FeedOutput> outputs(feed.lines.size(), aw::FeedOutput{true, "{\"events\":[]}"});
    if (mode == "garbage") return writeAll("this is not a frame\n");
    if (mode == "oversized") return writeAll(std::string("AWO\0\x40\0\0\0", 8));
    if (mode == "stranger") {
        return writeAll(
            aw::encodeFrame(aw::FrameKind::Json, R"({"id":4242,"ok":true,"result":{}})"));
    }
    if (mode == "wrong-count") outputs.pop_back();
    // An error only the provider-host writes, and it writes JSON: a lie.
    if (mode == "bad-error") outputs.front() = aw::FeedOutput{false, "}{"};
    // What a plugin may well answer: forwarded unchecked, it is that line's error.
    if (mode == "garbled-output") outputs.front().text = "}{";
    std::string frame = aw::encodeFeedAnswer(feed.id, outputs);
    if (mode == "truncated") {
        // Cut the last output short, and say the frame is that much shorter: the frame is
        // whole, its payload is not.
        const std::size_t cut = 5;
        frame.resize(frame.size() - cut);
        const std::uint32_t size = static_cast<std::uint32_t>(frame.size() - aw::kFrameHeaderBytes);
        for (int i = 0; i < 4; ++i) frame[4 + i] = static_cast<char>(size >> (24 - 8 * i));
        return writeAll(frame);
    }
    if (mode == "die-mid-frame" || mode == "stall-mid-frame") {
        writeAll(frame.substr(0, frame.size() / 2));
        if (mode == "die-mid-frame") ::raise(SIGKILL);
        std::this_thread::sleep_for(std::chrono::hours(1));
    }
    writeAll(frame);
}

}  // namespace

int main(int argc, char** argv) {
    const std::string mode = argc >= 3 ? std::filesystem::path(argv[2]).stem().string() : "honest";
    aw::ProviderInfo info;
    info.name = "liar-" + mode;
    info.version = "1.0.0";
    info.abiMajor = AW_PROVIDER_ABI_MAJOR;
    info.capabilities = AW_CAP_RUN | AW_CAP_STREAM;
    writeAll(aw::formatHandshake(info) + "\n");

    aw::FrameReader frames(aw::kMaxRequestFrameBytes);
    char chunk[65536];
    for (;;) {
        const auto n = ::read(STDIN_FILENO, chunk, sizeof chunk);
        if (n <= 0) return 0;
        frames.append(chunk, static_cast<std::size_t>(n));
        while (auto frame = frames.next()) {
            if (frame->kind == aw::FrameKind::Feed) {
                answerFeed(mode, aw::decodeFeedRequest(frame->payload));
            } else {
                writeAll(jsonAnswer(nlohmann::json::parse(frame->payload)));
            }
        }
    }
}
