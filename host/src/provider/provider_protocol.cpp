#include "provider/provider_protocol.h"

#include <vector>

namespace aw {
namespace {

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

}  // namespace aw
