#include "aw/run_view.h"

#include <cstdio>

namespace aw::cli {
namespace {

using Json = nlohmann::json;

std::string oneLine(const std::string& text, std::size_t limit = 100) {
    std::string out;
    for (char ch : text) {
        if (out.size() >= limit) return out + "...";
        out += (ch == '\n' || ch == '\r' || ch == '\t') ? ' ' : ch;
    }
    return out;
}

std::string stringField(const Json& data, const char* key) {
    const auto it = data.find(key);
    return it != data.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string withThousands(std::int64_t value) {
    std::string digits = std::to_string(value);
    for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) digits.insert(i, ",");
    return digits;
}

}  // namespace

std::string RunView::inputSummary(const Json& input) {
    if (!input.is_object()) return oneLine(input.dump());
    // The field that says what a call does, in the names the CLIs' tools use.
    for (const char* key : {"command", "cmd", "file_path", "filePath", "path", "pattern", "query",
                            "url", "subject", "description", "prompt"}) {
        const auto it = input.find(key);
        if (it == input.end()) continue;
        if (it->is_string()) return oneLine(it->get<std::string>());
        if (it->is_array()) {  // Codex's classic shell: ["bash", "-lc", "..."]
            std::string joined;
            for (const auto& part : *it) {
                joined += (joined.empty() ? "" : " ") +
                          (part.is_string() ? part.get<std::string>() : part.dump());
            }
            return oneLine(joined);
        }
    }
    if (input.contains("todos") || input.contains("plan")) return "(the todo list)";
    return oneLine(input.dump(-1, ' ', false, Json::error_handler_t::replace));
}

std::string RunView::usageLine(const Json& usage) {
    auto count = [&](const char* key) { return withThousands(usage.value(key, std::int64_t{0})); };
    std::string text = "usage: " + count("input_tokens") + " in · " + count("output_tokens") +
                       " out · " + count("cache_read_tokens") + " cache read · " +
                       count("cache_write_tokens") + " cache write";
    if (usage.contains("cost_usd") && usage["cost_usd"].is_number()) {
        char cost[32];
        std::snprintf(cost, sizeof cost, " · $%.4f", usage["cost_usd"].get<double>());
        text += cost;
    }
    return text;
}

void RunView::endText() {
    if (midLine_) out_ << '\n';
    midLine_ = false;
}

std::ostream& RunView::line() {
    endText();
    return out_;
}

void RunView::show(const Json& event) {
    showUnflushed(event);
    // Each event as it comes, also through a pipe (tee, a script waiting for a line).
    out_.flush();
}

void RunView::showUnflushed(const Json& event) {
    const std::string type = event.value("type", "");
    const Json data = event.value("data", Json::object());
    if (type == "run.queued") {
        line() << "• run " << event.value("run_id", "") << " queued (session "
               << event.value("session_id", "") << ", " << event.value("provider", "") << ")\n";
    } else if (type == "run.started") {
        line() << "• started"
               << (data.value("attempt", 1) > 1
                       ? " (attempt " + std::to_string(data.value("attempt", 1)) + ")"
                       : "")
               << "\n";
    } else if (type == "message.delta") {
        messageDelta(data);
    } else if (type == "message.stop") {
        messageStop(data);
    } else if (type == "tool.start") {
        line() << "→ " << stringField(data, "name") << "  "
               << inputSummary(data.value("input", Json())) << "\n";
    } else if (type == "tool.result") {
        const bool failed = data.value("is_error", false);
        std::string how = failed ? "✗ " : "✓ ";
        how += stringField(data, "name");
        if (data.value("unfinished", false)) how += " (unfinished)";
        if (data.contains("exit_code") && data["exit_code"].is_number_integer()) {
            how += " (exit " + std::to_string(data["exit_code"].get<int>()) + ")";
        }
        if (failed) how += ": " + oneLine(stringField(data, "output"));
        line() << "  " << how << "\n";
    } else if (type == "todo.update") {
        todos(data);
    } else if (type == "human.request") {
        humanRequest(event.value("run_id", ""), data);
    } else if (type == "human.response") {
        line() << "• answered " << stringField(data, "decision") << " (by "
               << stringField(data, "by") << ")\n";
    } else if (type == "run.waiting_human") {
        line() << "• waiting for an answer\n";
    } else if (type == "usage") {
        lastUsage_ = data;
    } else if (type == "provider.notice") {
        line() << "! " << oneLine(stringField(data, "message"), 200) << "\n";
    } else if (type == "provider.line_error" || type == "provider.quarantine") {
        line() << "! " << type << ": " << oneLine(stringField(data, "reason"), 200) << "\n";
    } else if ((type == "workspace.sync" || type == "workspace.restore") &&
               stringField(data, "status") == "failed") {
        line() << "! " << type << " failed: " << oneLine(stringField(data, "error"), 200) << "\n";
    } else if (type == "run.completed" || type == "run.failed" || type == "run.stopped") {
        terminal(type, data);
    }
}

void RunView::messageDelta(const Json& data) {
    const std::string text = stringField(data, "text");
    if (text.empty()) return;
    const std::string id = stringField(data, "message_id");
    if (stringField(data, "kind") == "reasoning") {
        if (!streamed_.count(id)) line() << "(thinking) ";
    } else if (!streamed_.count(id)) {
        endText();
    }
    streamed_.insert(id);
    out_ << text << std::flush;
    midLine_ = text.back() != '\n';
}

void RunView::messageStop(const Json& data) {
    const std::string id = stringField(data, "message_id");
    if (streamed_.count(id)) {
        endText();
        return;
    }
    // No deltas seen (a stream picked up mid-message): the whole text at once.
    const std::string text = stringField(data, "text");
    if (text.empty()) return;
    line() << (stringField(data, "kind") == "reasoning" ? "(thinking) " : "") << text
           << (text.back() == '\n' ? "" : "\n");
}

void RunView::todos(const Json& data) {
    std::string checklist;
    for (const auto& item : data.value("todos", Json::array())) {
        const std::string status = stringField(item, "status");
        const char* box = status == "completed" ? "[x]" : status == "in_progress" ? "[~]" : "[ ]";
        checklist += std::string("  ") + box + " " + oneLine(stringField(item, "content")) + "\n";
    }
    if (checklist == lastTodos_) return;
    lastTodos_ = checklist;
    line() << "todos:\n" << checklist;
}

void RunView::humanRequest(const std::string& runId, const Json& data) {
    const std::string requestId = stringField(data, "request_id");
    if (stringField(data, "kind") == "question") {
        line() << "? the agent asks (request " << requestId << "):\n";
        for (const auto& question : data.value("questions", Json::array())) {
            out_ << "    " << stringField(question, "question") << "\n";
            for (const auto& option : question.value("options", Json::array())) {
                out_ << "      - " << stringField(option, "label") << ": "
                     << stringField(option, "description") << "\n";
            }
        }
        out_ << "  answer: aw reply " << runId << " allow --answer LABEL (one per question)\n";
        return;
    }
    line() << "? " << stringField(data, "tool")
           << " asks for permission: " << inputSummary(data.value("input", Json())) << "\n";
    if (const auto why = stringField(data, "description"); !why.empty()) {
        out_ << "  " << oneLine(why, 200) << "\n";
    }
    out_ << "  answer: aw reply " << runId << " allow   or   aw reply " << runId
         << " deny [--message WHY]\n";
}

void RunView::terminal(const std::string& type, const Json& data) {
    outcome_ = type;
    if (type == "run.completed") {
        line() << "✓ completed\n";
    } else if (type == "run.stopped") {
        line() << "■ stopped\n";
    } else {
        const Json error = data.value("error", Json::object());
        line() << "✗ failed: " << stringField(error, "class") << ": "
               << oneLine(stringField(error, "message"), 300) << "\n";
    }
    const Json usage =
        data.contains("usage") && data["usage"].is_object() ? data["usage"] : lastUsage_;
    if (usage.is_object()) out_ << usageLine(usage) << "\n";
    out_ << std::flush;
}

}  // namespace aw::cli
