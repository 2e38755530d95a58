#include "support/sse_client.h"

#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>

#include "support/api_recorder.h"

namespace aw::test {

using Json = nlohmann::json;

Json SseFrame::json() const {
    auto parsed = Json::parse(data, nullptr, false);
    return parsed.is_discarded() ? Json() : parsed;
}

SseClient::SseClient(unsigned short port, const std::string& runId, const std::string& lastEventId,
                     std::chrono::milliseconds readTimeout)
    : port_(port), target_("/v1/runs/" + runId + "/events") {
    session_ = std::make_unique<Poco::Net::HTTPClientSession>("127.0.0.1", port);
    session_->setTimeout(
        Poco::Timespan(static_cast<Poco::Timespan::TimeDiff>(readTimeout.count()) * 1000));
    Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_GET, target_,
                                   Poco::Net::HTTPMessage::HTTP_1_1);
    request.set("Accept", "text/event-stream");
    if (!lastEventId.empty()) request.set("Last-Event-ID", lastEventId);
    session_->sendRequest(request);
    Poco::Net::HTTPResponse response;
    in_ = &session_->receiveResponse(response);
    status_ = static_cast<int>(response.getStatus());
    contentType_ = response.getContentType();
    if (status_ != 200) {
        Poco::StreamCopier::copyToString(*in_, body_);
        ended_ = true;
    }
    api_record::response(port_, "GET", target_, status_, contentType_, body_);
}

SseClient::~SseClient() {
    close();
}

void SseClient::close() {
    if (session_) session_->reset();
    in_ = nullptr;
    ended_ = true;
}

std::optional<SseFrame> SseClient::next() {
    auto frame = readFrame();
    if (frame && frame->isEvent()) {
        api_record::streamEvent(port_, target_, frame->id.value_or(""), frame->event, frame->data);
    }
    return frame;
}

std::optional<SseFrame> SseClient::readFrame() {
    if (ended_ || !in_) return std::nullopt;
    SseFrame frame;
    bool any = false;
    std::string line;
    for (;;) {
        if (!std::getline(*in_, line)) {
            // A read timeout surfaces as a failed stream (Poco throws inside the streambuf).
            timedOut_ = in_->bad();
            ended_ = true;
            return any ? std::optional<SseFrame>(frame) : std::nullopt;
        }
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) {
            if (any) return frame;
            continue;
        }
        any = true;
        if (line.front() == ':') {
            frame.comments.push_back(line.substr(1));
            if (line.find("keep-alive") != std::string::npos) ++keepAlives_;
            continue;
        }
        const auto colon = line.find(':');
        const std::string field = line.substr(0, colon);
        std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
        if (!value.empty() && value.front() == ' ') value.erase(0, 1);
        if (field == "id") {
            frame.id = value;
        } else if (field == "event") {
            frame.event = value;
        } else if (field == "data") {
            frame.data += (frame.data.empty() ? "" : "\n") + value;
        } else if (field == "retry") {
            frame.retry = value;
        }
    }
}

std::optional<SseFrame> SseClient::nextEvent() {
    while (auto frame = next()) {
        if (frame->isEvent()) return frame;
    }
    return std::nullopt;
}

std::vector<SseFrame> SseClient::readToEnd() {
    std::vector<SseFrame> frames;
    while (auto frame = nextEvent()) frames.push_back(std::move(*frame));
    return frames;
}

}  // namespace aw::test
