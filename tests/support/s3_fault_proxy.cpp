#include "support/s3_fault_proxy.h"

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/SHA2Engine.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>

#include <algorithm>
#include <set>

namespace aw::test {
namespace {

using namespace Poco::Net;

// Hop-by-hop headers: each side of the proxy has its own connection.
bool isHopByHop(const std::string& name) {
    static const std::set<std::string> names = {"connection",     "keep-alive", "transfer-encoding",
                                                "content-length", "te",         "upgrade"};
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    return names.count(lower) > 0;
}

std::string sha256Hex(const std::string& bytes) {
    Poco::SHA2Engine engine(Poco::SHA2Engine::SHA_256);
    engine.update(bytes);
    return Poco::DigestEngine::digestToHex(engine.digest());
}

//! HMAC-SHA256 (RFC 2104; SHA-256's block is 64 bytes).
std::string hmac(const std::string& key, const std::string& message) {
    std::string block = key;
    if (block.size() > 64) {
        Poco::SHA2Engine engine(Poco::SHA2Engine::SHA_256);
        engine.update(block);
        const auto digest = engine.digest();
        block.assign(digest.begin(), digest.end());
    }
    block.resize(64, '\0');
    std::string inner(64, '\0'), outer(64, '\0');
    for (std::size_t i = 0; i < 64; ++i) {
        inner[i] = static_cast<char>(block[i] ^ 0x36);
        outer[i] = static_cast<char>(block[i] ^ 0x5c);
    }
    Poco::SHA2Engine first(Poco::SHA2Engine::SHA_256);
    first.update(inner + message);
    const auto innerDigest = first.digest();
    Poco::SHA2Engine second(Poco::SHA2Engine::SHA_256);
    second.update(outer + std::string(innerDigest.begin(), innerDigest.end()));
    const auto digest = second.digest();
    return std::string(digest.begin(), digest.end());
}

std::string toHex(const std::string& bytes) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned char c : bytes) {
        out += digits[c >> 4];
        out += digits[c & 0x0f];
    }
    return out;
}

//! AWS's URI encoding, applied to what the server decoded (as S3 does).
std::string awsEncode(const std::string& text, bool keepSlash) {
    static const char* digits = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : text) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
            (keepSlash && c == '/')) {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += digits[c >> 4];
            out += digits[c & 0x0f];
        }
    }
    return out;
}

std::string decoded(const std::string& text) {
    std::string out;
    Poco::URI::decode(text, out);
    return out;
}

std::string field(const std::string& authorization, const std::string& name) {
    const auto at = authorization.find(name + "=");
    if (at == std::string::npos) return "";
    const auto start = at + name.size() + 1;
    const auto end = authorization.find(',', start);
    return authorization.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

//! Empty when `request` carries a valid SigV4 signature (header form) for the state's
//! credentials; otherwise why not. Follows the AWS specification, not libcurl.
std::string signatureFault(const HTTPServerRequest& request, const std::string& body,
                           const S3FaultProxy::State& state) {
    const std::string authorization = request.get("Authorization", "");
    if (authorization.rfind("AWS4-HMAC-SHA256 ", 0) != 0) return "no SigV4 Authorization header";
    const std::string credential = field(authorization, "Credential");
    const std::string signedHeaders = field(authorization, "SignedHeaders");
    const std::string signature = field(authorization, "Signature");
    const std::string date = request.get("x-amz-date", "");
    if (date.size() < 8) return "no x-amz-date";
    const std::string scope = date.substr(0, 8) + "/" + state.region + "/s3/aws4_request";
    if (credential != state.accessKey + "/" + scope)
        return "credential " + credential + " is not for " + scope;
    const std::string payloadHash = request.get("x-amz-content-sha256", "");
    if (payloadHash.empty()) return "no x-amz-content-sha256";
    if (payloadHash != "UNSIGNED-PAYLOAD" && payloadHash != sha256Hex(body)) {
        return "x-amz-content-sha256 does not match the body";
    }
    // Every x-amz-* header sent, and the host, must be signed.
    std::set<std::string> signedNames;
    for (std::size_t start = 0; start <= signedHeaders.size();) {
        const auto end = std::min(signedHeaders.find(';', start), signedHeaders.size());
        signedNames.insert(signedHeaders.substr(start, end - start));
        start = end + 1;
    }
    if (!signedNames.count("host")) return "host is not signed";
    for (const auto& [name, value] : request) {
        std::string lower = name;
        std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
        if (lower.rfind("x-amz-", 0) == 0 && !signedNames.count(lower))
            return lower + " is not signed";
    }
    const std::string uri = request.getURI();
    const auto question = uri.find('?');
    const std::string path = uri.substr(0, question);
    std::vector<std::pair<std::string, std::string>> query;
    if (question != std::string::npos) {
        const std::string text = uri.substr(question + 1);
        for (std::size_t start = 0; start <= text.size();) {
            const auto end = std::min(text.find('&', start), text.size());
            const std::string pair = text.substr(start, end - start);
            const auto eq = pair.find('=');
            if (!pair.empty()) {
                query.emplace_back(
                    awsEncode(decoded(pair.substr(0, eq)), false),
                    eq == std::string::npos ? "" : awsEncode(decoded(pair.substr(eq + 1)), false));
            }
            start = end + 1;
        }
    }
    std::sort(query.begin(), query.end());
    std::string canonicalQuery;
    for (const auto& [name, value] : query)
        canonicalQuery += (canonicalQuery.empty() ? "" : "&") + name + "=" + value;
    std::string canonicalHeaders;
    for (const auto& name : signedNames) {
        std::string value = request.get(name, "");
        value.erase(0, value.find_first_not_of(' '));
        value.erase(value.find_last_not_of(' ') + 1);
        canonicalHeaders += name + ":" + value + "\n";
    }
    const std::string canonicalRequest =
        request.getMethod() + "\n" + awsEncode(decoded(path), true) + "\n" + canonicalQuery + "\n" +
        canonicalHeaders + "\n" + signedHeaders + "\n" + payloadHash;
    const std::string stringToSign =
        "AWS4-HMAC-SHA256\n" + date + "\n" + scope + "\n" + sha256Hex(canonicalRequest);
    std::string key = hmac("AWS4" + state.secret, date.substr(0, 8));
    key = hmac(key, state.region);
    key = hmac(key, "s3");
    key = hmac(key, "aws4_request");
    if (toHex(hmac(key, stringToSign)) != signature) {
        return "the signature does not match the canonical request:\n" + canonicalRequest;
    }
    return "";
}

void answerError(HTTPServerResponse& response, int status, const std::string& code,
                 const std::string& message) {
    std::string escaped;
    for (char c : message)
        escaped += c == '<'   ? std::string("&lt;")
                   : c == '&' ? std::string("&amp;")
                              : std::string(1, c);
    const std::string error = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>" + code +
                              "</Code><Message>" + escaped + "</Message></Error>";
    response.setStatus(static_cast<HTTPResponse::HTTPStatus>(status));
    response.setContentType("application/xml");
    response.setContentLength(static_cast<std::streamsize>(error.size()));
    response.send() << error;
}

class ProxyHandler : public HTTPRequestHandler {
public:
    explicit ProxyHandler(std::shared_ptr<S3FaultProxy::State> state) : state_(std::move(state)) {}

    void handleRequest(HTTPServerRequest& request, HTTPServerResponse& response) override {
        std::string body;
        Poco::StreamCopier::copyToString(request.stream(), body);
        int failWith = 0;
        unsigned short upstream = 0;
        std::string fault;
        // Counted while the request is handled, forwarding included.
        struct InFlight {
            S3FaultProxy::State& state;
            explicit InFlight(S3FaultProxy::State& s) : state(s) {
                std::lock_guard lock(state.mutex);
                state.maxInFlight = std::max(state.maxInFlight, ++state.inFlight);
            }
            ~InFlight() {
                std::lock_guard lock(state.mutex);
                --state.inFlight;
            }
        } inFlight(*state_);
        {
            std::lock_guard lock(state_->mutex);
            const std::string line = request.getMethod() + " " + request.getURI();
            state_->requests.push_back(line);
            for (auto& fault : state_->faults) {
                if (fault.remaining == 0 || line.find(fault.matching) == std::string::npos)
                    continue;
                if (fault.remaining > 0) --fault.remaining;
                failWith = fault.status;
                break;
            }
            upstream = state_->upstreamPort;
            if (!failWith && !state_->secret.empty()) {
                fault = signatureFault(request, body, *state_);
                state_->verified += fault.empty() ? 1 : 0;
            }
        }
        if (failWith)
            return answerError(response, failWith, "InternalError", "injected by the test proxy");
        if (!fault.empty()) return answerError(response, 403, "SignatureDoesNotMatch", fault);
        HTTPClientSession session("127.0.0.1", upstream);
        HTTPRequest forwarded(request.getMethod(), request.getURI(), HTTPMessage::HTTP_1_1);
        for (const auto& [name, value] : request) {
            if (!isHopByHop(name)) forwarded.set(name, value);
        }
        if (!body.empty() || request.getMethod() == "PUT" || request.getMethod() == "POST") {
            forwarded.setContentLength(static_cast<std::streamsize>(body.size()));
        }
        session.sendRequest(forwarded) << body;
        HTTPResponse answer;
        std::istream& answerStream = session.receiveResponse(answer);
        std::string answerBody;
        Poco::StreamCopier::copyToString(answerStream, answerBody);
        response.setStatusAndReason(answer.getStatus(), answer.getReason());
        for (const auto& [name, value] : answer) {
            if (!isHopByHop(name)) response.set(name, value);
        }
        if (request.getMethod() == "HEAD") {
            if (answer.hasContentLength()) response.setContentLength64(answer.getContentLength64());
            response.send();
            return;
        }
        response.setContentLength(static_cast<std::streamsize>(answerBody.size()));
        response.send() << answerBody;
    }

private:
    std::shared_ptr<S3FaultProxy::State> state_;
};

class ProxyFactory : public HTTPRequestHandlerFactory {
public:
    explicit ProxyFactory(std::shared_ptr<S3FaultProxy::State> state) : state_(std::move(state)) {}
    HTTPRequestHandler* createRequestHandler(const HTTPServerRequest&) override {
        return new ProxyHandler(state_);
    }

private:
    std::shared_ptr<S3FaultProxy::State> state_;
};

}  // namespace

S3FaultProxy::S3FaultProxy(unsigned short upstreamPort, unsigned short port)
    : state_(std::make_shared<State>()) {
    state_->upstreamPort = upstreamPort;
    ServerSocket socket(SocketAddress("127.0.0.1", port));
    port_ = socket.address().port();
    auto* params = new HTTPServerParams;
    params->setMaxThreads(16);  // above a client's parallel transfers (8), keep-alive included
    server_ = std::make_unique<HTTPServer>(new ProxyFactory(state_), socket, params);
    server_->start();
}

S3FaultProxy::~S3FaultProxy() {
    server_->stopAll(true);
}

void S3FaultProxy::failNext(int count, int status, const std::string& matching) {
    std::lock_guard lock(state_->mutex);
    state_->faults = {{matching, count, status}};
}

void S3FaultProxy::addFault(const std::string& matching, int count, int status) {
    std::lock_guard lock(state_->mutex);
    state_->faults.push_back({matching, count, status});
}

int S3FaultProxy::maxInFlight() const {
    std::lock_guard lock(state_->mutex);
    return state_->maxInFlight;
}

void S3FaultProxy::verifySignatures(const std::string& accessKey, const std::string& secret,
                                    const std::string& region) {
    std::lock_guard lock(state_->mutex);
    state_->accessKey = accessKey;
    state_->secret = secret;
    state_->region = region;
}

int S3FaultProxy::verified() const {
    std::lock_guard lock(state_->mutex);
    return state_->verified;
}

std::vector<std::string> S3FaultProxy::requests() const {
    std::lock_guard lock(state_->mutex);
    return state_->requests;
}

int S3FaultProxy::count(const std::string& method) const {
    std::lock_guard lock(state_->mutex);
    return static_cast<int>(
        std::count_if(state_->requests.begin(), state_->requests.end(),
                      [&](const std::string& r) { return r.rfind(method + " ", 0) == 0; }));
}

void S3FaultProxy::clear() {
    std::lock_guard lock(state_->mutex);
    state_->requests.clear();
    state_->maxInFlight = state_->inFlight;
}

}  // namespace aw::test
