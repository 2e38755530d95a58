// aw-model-server: the project's scripted model server for the live CLI tests.
//
//   aw-model-server [--port N] [--dump-dir DIR] [--piece-delay-ms N]
//
// Listens on 127.0.0.1 (port 0: any free port) and prints the port on the first stdout
// line. Serves
//   POST /v1/messages[?beta=true]   Anthropic Messages (streaming SSE or JSON)  Claude Code
//   POST /v1/messages/count_tokens  a fixed count
//   POST /v1/responses              OpenAI Responses (streaming SSE or JSON)    Codex CLI
//   POST /v1/chat/completions       OpenAI Chat Completions (SSE or JSON)       opencode
//   GET  /v1/models                 a small model list
//   GET  /_aw/requests              what it was asked so far (JSON), for tests
// The replies follow keywords in the last user prompt (see script.h). Each request is logged
// on stderr; --dump-dir also keeps every request body as <n>-<api>.json. Runs until SIGINT
// or SIGTERM.
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/StreamCopier.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>

#include "model_server/apis.h"

namespace {

using aw::model_server::Api;
using aw::model_server::Json;

struct Options {
    unsigned short port = 0;
    std::string dumpDir;
    int pieceDelayMs = 2;
};

class RequestLog {
public:
    std::size_t add(Json entry) {
        std::lock_guard lock(mutex_);
        entry["n"] = entries_.size() + 1;
        entries_.push_back(std::move(entry));
        return entries_.size();
    }
    void update(std::size_t n, const std::string& key, Json value) {
        std::lock_guard lock(mutex_);
        if (n >= 1 && n <= entries_.size()) entries_[n - 1][key] = std::move(value);
    }
    Json all() const {
        std::lock_guard lock(mutex_);
        return entries_;
    }

private:
    mutable std::mutex mutex_;
    Json entries_ = Json::array();
};

std::string clip(const std::string& text, std::size_t size = 80) {
    std::string out;
    for (char ch : text.substr(0, size)) out += (ch == '\n' || ch == '\r') ? ' ' : ch;
    return text.size() > size ? out + "..." : out;
}

void logLine(const std::string& line) {
    static std::mutex mutex;
    static const auto started = std::chrono::steady_clock::now();
    std::lock_guard lock(mutex);
    char stamp[32];
    std::snprintf(
        stamp, sizeof stamp, "%8.3f",
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    std::cerr << "aw-model-server: " << stamp << " " << line << std::endl;
}

class Handler : public Poco::Net::HTTPRequestHandler {
public:
    Handler(const Options& options, RequestLog& log) : options_(options), log_(log) {}

    void handleRequest(Poco::Net::HTTPServerRequest& request,
                       Poco::Net::HTTPServerResponse& response) override {
        std::string body;
        Poco::StreamCopier::copyToString(request.stream(), body);
        const std::string uri = request.getURI();
        const std::string path = uri.substr(0, uri.find('?'));
        const std::string method = request.getMethod();
        try {
            if (method == "GET" && path == "/_aw/requests") {
                sendJson(response, 200, log_.all());
            } else if (method == "POST" && path == "/v1/messages/count_tokens") {
                log_.add({{"method", method}, {"path", uri}, {"api", "count_tokens"}});
                logLine(method + " " + uri + " -> count_tokens");
                sendJson(response, 200, {{"input_tokens", 1000}});
            } else if (method == "POST" && path == "/v1/messages") {
                model(Api::Anthropic, uri, body, response);
            } else if (method == "POST" && path == "/v1/responses") {
                model(Api::Responses, uri, body, response);
            } else if (method == "POST" && path == "/v1/chat/completions") {
                model(Api::Chat, uri, body, response);
            } else if (method == "GET" && path == "/v1/models") {
                log_.add({{"method", method}, {"path", uri}, {"api", "models"}});
                logLine(method + " " + uri + " -> model list");
                Json models = Json::array();
                for (const char* id : {"claude-scripted", "gpt-5.5", "fake-model"}) {
                    models.push_back({{"id", id},
                                      {"object", "model"},
                                      {"type", "model"},
                                      {"display_name", id},
                                      {"created", 0},
                                      {"owned_by", "aw-model-server"}});
                }
                sendJson(response, 200,
                         {{"object", "list"}, {"data", models}, {"has_more", false}});
            } else {
                log_.add({{"method", method}, {"path", uri}, {"api", "unknown"}, {"status", 404}});
                logLine(method + " " + uri + " -> 404 (" + std::to_string(body.size()) + " bytes)");
                sendJson(
                    response, 404,
                    {{"error",
                      {{"type", "not_found_error"},
                       {"message", "aw-model-server does not serve " + method + " " + path}}}});
            }
        } catch (const std::exception& e) {
            logLine(method + " " + uri + " failed: " + e.what());
            if (!response.sent()) sendJson(response, 500, {{"error", {{"message", e.what()}}}});
        }
    }

private:
    static void sendJson(Poco::Net::HTTPServerResponse& response, int status, const Json& value) {
        const std::string text = value.dump(-1, ' ', false, Json::error_handler_t::replace);
        response.setStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(status));
        response.setContentType("application/json");
        response.setContentLength64(static_cast<Poco::Int64>(text.size()));
        response.send() << text;
    }

    void model(Api api, const std::string& uri, const std::string& body,
               Poco::Net::HTTPServerResponse& response) {
        const Json request = Json::parse(body, nullptr, false);
        if (!request.is_object()) {
            log_.add({{"path", uri}, {"api", aw::model_server::apiName(api)}, {"status", 400}});
            logLine("POST " + uri + " -> 400 (body is not a JSON object)");
            sendJson(
                response, 400,
                {{"type", "error"},
                 {"error", {{"type", "invalid_request_error"}, {"message", "body is not JSON"}}}});
            return;
        }
        const auto conversation = aw::model_server::parseRequest(api, request);
        const auto reply = aw::model_server::scriptedReply(conversation, api);
        const auto rendered = aw::model_server::renderReply(api, conversation, reply);

        Json toolCalls = Json::array();
        for (const auto& call : reply.toolCalls) toolCalls.push_back(call.name);
        const std::size_t n =
            log_.add({{"method", "POST"},
                      {"path", uri},
                      {"api", aw::model_server::apiName(api)},
                      {"model", conversation.model},
                      {"stream", conversation.stream},
                      {"messages", conversation.messageCount},
                      {"tools", conversation.offeredTools.size()},
                      {"user_prompts", conversation.userPrompts},
                      {"tools_called_this_turn", conversation.toolsCalledThisTurn},
                      {"tool_results_this_turn", conversation.toolResultsThisTurn},
                      {"cwd", conversation.cwd},
                      {"scenario", reply.scenario},
                      {"status", rendered.status},
                      {"tool_calls", toolCalls}});
        if (!options_.dumpDir.empty()) {
            std::ofstream(std::filesystem::path(options_.dumpDir) /
                          (std::to_string(n) + "-" + aw::model_server::apiName(api) + ".json"))
                << request.dump(1);
        }
        std::string calls;
        for (const auto& call : reply.toolCalls) calls += (calls.empty() ? "" : ",") + call.name;
        logLine("#" + std::to_string(n) + " POST " + uri + " " + aw::model_server::apiName(api) +
                " model=" + conversation.model +
                " messages=" + std::to_string(conversation.messageCount) +
                " tools=" + std::to_string(conversation.offeredTools.size()) + " prompt=\"" +
                clip(conversation.lastPrompt()) + "\" -> " + reply.scenario + " " +
                std::to_string(rendered.status) + (calls.empty() ? "" : " calls=" + calls));

        response.setStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(rendered.status));
        response.setContentType(rendered.contentType);
        response.set("request-id", "req_aw_" + std::to_string(n));
        for (const auto& [name, value] : rendered.headers) response.set(name, value);
        if (rendered.contentType == "text/event-stream") {
            response.set("Cache-Control", "no-cache");
            response.setChunkedTransferEncoding(true);
            auto& out = response.send();
            for (const auto& piece : rendered.pieces) {
                out << piece;
                out.flush();
                if (options_.pieceDelayMs > 0) {
                    std::this_thread::sleep_for(std::chrono::milliseconds(options_.pieceDelayMs));
                }
                if (!out) {
                    logLine("#" + std::to_string(n) + " client went away mid-stream");
                    log_.update(n, "aborted", true);
                    return;
                }
            }
        } else {
            std::string text;
            for (const auto& piece : rendered.pieces) text += piece;
            response.setContentLength64(static_cast<Poco::Int64>(text.size()));
            response.send() << text;
        }
    }

    const Options& options_;
    RequestLog& log_;
};

class Factory : public Poco::Net::HTTPRequestHandlerFactory {
public:
    Factory(const Options& options, RequestLog& log) : options_(options), log_(log) {}
    Poco::Net::HTTPRequestHandler* createRequestHandler(
        const Poco::Net::HTTPServerRequest&) override {
        return new Handler(options_, log_);
    }

private:
    const Options& options_;
    RequestLog& log_;
};

[[noreturn]] void usage(const std::string& problem) {
    std::cerr << "aw-model-server: " << problem
              << "\nusage: aw-model-server [--port N] [--dump-dir DIR] [--piece-delay-ms N]\n";
    std::exit(2);
}

Options parse(int argc, char** argv) {
    Options options;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage(arg + " needs a value");
            return argv[++i];
        };
        try {
            if (arg == "--port") {
                options.port = static_cast<unsigned short>(std::stoi(value()));
            } else if (arg == "--dump-dir") {
                options.dumpDir = value();
            } else if (arg == "--piece-delay-ms") {
                options.pieceDelayMs = std::stoi(value());
            } else if (arg == "--help" || arg == "-h") {
                usage("the scripted model server of the live CLI tests");
            } else {
                usage("unknown argument '" + arg + "'");
            }
        } catch (const std::logic_error&) {
            usage(arg + " needs a number");
        }
    }
    return options;
}

}  // namespace

int main(int argc, char** argv) {
    const Options options = parse(argc, argv);
    if (!options.dumpDir.empty()) std::filesystem::create_directories(options.dumpDir);

    // Block the stop signals in every thread; the main thread waits for them.
    sigset_t stopSignals;
    sigemptyset(&stopSignals);
    sigaddset(&stopSignals, SIGINT);
    sigaddset(&stopSignals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stopSignals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    RequestLog log;
    Poco::Net::ServerSocket socket(Poco::Net::SocketAddress("127.0.0.1", options.port));
    auto params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(32);
    params->setMaxQueued(64);
    params->setKeepAlive(true);
    params->setTimeout(Poco::Timespan(120, 0));
    Poco::Net::HTTPServer server(new Factory(options, log), socket, params);
    server.start();
    std::cout << socket.address().port() << std::endl;
    logLine("listening on 127.0.0.1:" + std::to_string(socket.address().port()));

    int received = 0;
    sigwait(&stopSignals, &received);
    logLine("stopping (signal " + std::to_string(received) + ")");
    server.stopAll(true);
    return 0;
}
