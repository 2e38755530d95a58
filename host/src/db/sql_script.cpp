#include "db/sql_script.h"

#include <cctype>

namespace aw {
namespace {

bool hasCode(const std::string& statement) {
    // True when something other than whitespace and comments remains.
    for (std::size_t i = 0; i < statement.size(); ++i) {
        if (statement.compare(i, 2, "--") == 0) {
            i = statement.find('\n', i);
            if (i == std::string::npos) return false;
        } else if (statement.compare(i, 2, "/*") == 0) {
            i = statement.find("*/", i + 2);
            if (i == std::string::npos) return false;
            ++i;
        } else if (!std::isspace(static_cast<unsigned char>(statement[i]))) {
            return true;
        }
    }
    return false;
}

//! `$tag$` starting at `pos`, or empty when `pos` does not open a dollar quote.
std::string dollarTagAt(const std::string& s, std::size_t pos) {
    std::size_t end = pos + 1;
    while (end < s.size() && (std::isalnum(static_cast<unsigned char>(s[end])) || s[end] == '_')) {
        ++end;
    }
    if (end < s.size() && s[end] == '$') return s.substr(pos, end - pos + 1);
    return {};
}

}  // namespace

std::vector<std::string> splitSqlStatements(const std::string& script) {
    std::vector<std::string> statements;
    std::string current;
    auto flush = [&] {
        if (hasCode(current)) {
            const auto first = current.find_first_not_of(" \t\r\n");
            statements.push_back(current.substr(first));
        }
        current.clear();
    };
    std::size_t i = 0;
    auto copyUntil = [&](const std::string& closing) {
        const auto end = script.find(closing, i);
        const auto stop = end == std::string::npos ? script.size() : end + closing.size();
        current.append(script, i, stop - i);
        i = stop;
    };
    while (i < script.size()) {
        const char c = script[i];
        if (c == '\'' || c == '"') {
            // A doubled quote inside a literal closes and reopens it: same result.
            current += c;
            ++i;
            copyUntil(std::string(1, c));
        } else if (script.compare(i, 2, "--") == 0) {
            copyUntil("\n");
        } else if (script.compare(i, 2, "/*") == 0) {
            current += "/*";
            i += 2;
            copyUntil("*/");
        } else if (c == '$' && !dollarTagAt(script, i).empty()) {
            const std::string tag = dollarTagAt(script, i);
            current += tag;
            i += tag.size();
            copyUntil(tag);
        } else if (c == ';') {
            flush();
            ++i;
        } else {
            current += c;
            ++i;
        }
    }
    flush();
    return statements;
}

}  // namespace aw
