// The three wire formats aw-model-server speaks: requests in, replies out.
//   Anthropic Messages     POST /v1/messages          (Claude Code)
//   OpenAI Responses       POST /v1/responses         (Codex CLI)
//   OpenAI Chat Completions POST /v1/chat/completions (opencode)
#pragma once

#include <string>
#include <vector>

#include "model_server/script.h"

namespace aw::model_server {

Conversation parseRequest(Api api, const Json& body);

//! A reply ready to send: status, content type and the body in pieces (SSE events are sent
//! and flushed one by one).
struct Rendered {
    int status = 200;
    std::string contentType = "application/json";
    std::vector<std::pair<std::string, std::string>> headers;
    std::vector<std::string> pieces;
};

Rendered renderReply(Api api, const Conversation& conversation, const Reply& reply);

}  // namespace aw::model_server
