#include "model_server/script.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <regex>

namespace aw::model_server {
namespace {

std::string newCallId(Api api, int step) {
    static std::atomic<unsigned> counter{0};
    static const auto seed =
        static_cast<unsigned>(std::chrono::duration_cast<std::chrono::seconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count() %
                              1000000);
    const std::string n =
        std::to_string(seed) + "_" + std::to_string(++counter) + "_s" + std::to_string(step);
    switch (api) {
        case Api::Anthropic:
            return "toolu_aw_" + n;
        case Api::Responses:
            return "call_aw_" + n;
        case Api::Chat:
            return "call_aw_" + n;
    }
    return n;
}

bool contains(const std::string& text, const char* keyword) {
    return text.find(keyword) != std::string::npos;
}

Json usageFor(const Conversation& conversation) {
    // Predictable figures: 1000 new input tokens (+1 per earlier step of the turn), 500 read
    // from the cache, 100 written, 20 output tokens of which 5 reasoning.
    return {{"input", 1000 + conversation.stepsThisTurn},
            {"output", 20},
            {"cache_read", 500},
            {"cache_write", 100},
            {"reasoning", 5}};
}

// ---- tools, per CLI --------------------------------------------------------------------

//! A shell command in the tool the CLI offers; nullopt-like empty name when none.
ToolCall shellCall(const Conversation& c, Api api, const std::string& command,
                   const std::string& description) {
    ToolCall call;
    call.callId = newCallId(api, c.stepsThisTurn);
    if (c.offers("Bash")) {  // Claude Code
        call.name = "Bash";
        call.input = {{"command", command}, {"description", description}};
    } else if (c.offers("bash")) {  // opencode
        call.name = "bash";
        call.input = {{"command", command}, {"description", description}};
    } else if (c.offers("exec_command")) {  // Codex (unified exec)
        call.name = "exec_command";
        call.input = {{"cmd", command}, {"yield_time_ms", 60000}};
    } else if (c.offers("shell_command")) {  // Codex (shell_command tool)
        call.name = "shell_command";
        call.input = {{"command", command}};
    } else if (c.offers("shell")) {  // Codex (classic shell tool)
        call.name = "shell";
        call.input = {{"command", Json::array({"bash", "-lc", command})}};
    }
    return call;
}

//! Writes notes.txt with the CLI's file tool; falls back to the shell.
ToolCall writeCall(const Conversation& c, Api api) {
    const std::string content = "notes written by the scripted model\n";
    ToolCall call;
    call.callId = newCallId(api, c.stepsThisTurn);
    if (c.offers("Write") && !c.cwd.empty()) {  // Claude Code: absolute paths only
        call.name = "Write";
        call.input = {{"file_path", c.cwd + "/notes.txt"}, {"content", content}};
    } else if (c.offers("write") && !c.cwd.empty()) {  // opencode
        call.name = "write";
        call.input = {{"filePath", c.cwd + "/notes.txt"}, {"content", content}};
    } else if (c.offers("apply_patch")) {  // Codex: freeform (custom) tool
        call.name = "apply_patch";
        call.freeform = true;
        call.text =
            "*** Begin Patch\n*** Add File: notes.txt\n+notes written by the scripted model\n"
            "*** End Patch";
    } else {
        return shellCall(c, api, "printf 'notes written by the scripted model\\n' > notes.txt",
                         "Write notes.txt");
    }
    return call;
}

struct Todo {
    std::string content;
    std::string status;
};

//! The todo list in the CLI's plan tool (Claude TodoWrite, Codex update_plan, opencode
//! todowrite). Claude Code's task tools are handled by the caller.
void addTodoCall(const Conversation& c, Api api, const std::vector<Todo>& todos,
                 std::vector<ToolCall>& calls) {
    ToolCall call;
    call.callId = newCallId(api, c.stepsThisTurn);
    if (c.offers("TodoWrite")) {
        call.name = "TodoWrite";
        Json list = Json::array();
        for (const auto& todo : todos) {
            list.push_back({{"content", todo.content},
                            {"status", todo.status},
                            {"activeForm", "Working on: " + todo.content}});
        }
        call.input = {{"todos", list}};
    } else if (c.offers("todowrite")) {
        call.name = "todowrite";
        Json list = Json::array();
        int id = 0;
        for (const auto& todo : todos) {
            list.push_back({{"content", todo.content},
                            {"status", todo.status},
                            {"priority", "high"},
                            {"id", std::to_string(++id)}});
        }
        call.input = {{"todos", list}};
    } else if (c.offers("update_plan")) {
        call.name = "update_plan";
        Json plan = Json::array();
        for (const auto& todo : todos) {
            plan.push_back({{"step", todo.content}, {"status", todo.status}});
        }
        call.input = {{"explanation", "Tracking the work"}, {"plan", plan}};
    } else {
        return;
    }
    calls.push_back(call);
}

bool claudeTaskTools(const Conversation& c) {
    return !c.offers("TodoWrite") && c.offers("TaskCreate") && c.offers("TaskUpdate");
}

Reply toolsAndTodos(const Conversation& c, Api api) {
    Reply reply;
    const bool tasks = claudeTaskTools(c);
    // Claude Code defers its task tools behind ToolSearch: load them first.
    std::vector<std::string> phases;
    if (tasks && c.deferredTools.count("TaskCreate") && c.offers("ToolSearch")) {
        phases.push_back("load-task-tools");
    }
    phases.insert(phases.end(), {"shell", "write", "final"});
    const std::string phase =
        phases[std::min(static_cast<std::size_t>(c.stepsThisTurn), phases.size() - 1)];
    reply.scenario = "tools/" + phase;
    if (phase == "load-task-tools") {
        reply.text = "Loading the task tools.";
        reply.toolCalls.push_back({newCallId(api, c.stepsThisTurn),
                                   "ToolSearch",
                                   {{"query", "select:TaskCreate,TaskUpdate"}, {"max_results", 5}},
                                   false,
                                   ""});
    } else if (phase == "shell") {
        reply.reasoning = "The user wants two files; start with the shell.";
        reply.text = "I'll create hello.txt and track the work.";
        reply.toolCalls.push_back(shellCall(c, api, "echo hello > hello.txt", "Create hello.txt"));
        if (tasks) {
            reply.toolCalls.push_back({newCallId(api, c.stepsThisTurn),
                                       "TaskCreate",
                                       {{"subject", "Create hello.txt"},
                                        {"description", "Create hello.txt with a shell command"},
                                        {"activeForm", "Creating hello.txt"}},
                                       false,
                                       ""});
            reply.toolCalls.push_back({newCallId(api, c.stepsThisTurn),
                                       "TaskCreate",
                                       {{"subject", "Write notes.txt"},
                                        {"description", "Write notes.txt with the file tool"},
                                        {"activeForm", "Writing notes.txt"}},
                                       false,
                                       ""});
        } else {
            addTodoCall(c, api,
                        {{"Create hello.txt", "in_progress"}, {"Write notes.txt", "pending"}},
                        reply.toolCalls);
        }
    } else if (phase == "write") {
        reply.text = "Now writing notes.txt.";
        reply.toolCalls.push_back(writeCall(c, api));
        if (tasks) {
            for (const char* id : {"1", "2"}) {
                reply.toolCalls.push_back({newCallId(api, c.stepsThisTurn),
                                           "TaskUpdate",
                                           {{"taskId", id}, {"status", "completed"}},
                                           false,
                                           ""});
            }
        } else {
            addTodoCall(c, api,
                        {{"Create hello.txt", "completed"}, {"Write notes.txt", "completed"}},
                        reply.toolCalls);
        }
    } else {
        reply.text = "Done: hello.txt and notes.txt were created.";
    }
    return reply;
}

Reply askUser(const Conversation& c, Api api) {
    Reply reply;
    if (!c.offers("AskUserQuestion")) {
        reply.scenario = "ask/unavailable";
        reply.text = "I would ask you, but this CLI offers no way to ask.";
        return reply;
    }
    if (c.stepsThisTurn == 0) {
        reply.scenario = "ask/question";
        reply.text = "I need to know which greeting to use.";
        Json question = {{"question", "Which greeting should I write?"},
                         {"header", "Greeting"},
                         {"multiSelect", false},
                         {"options",
                          {{{"label", "hello"}, {"description", "The English greeting"}},
                           {{"label", "bonjour"}, {"description", "The French greeting"}}}}};
        reply.toolCalls.push_back({newCallId(api, c.stepsThisTurn),
                                   "AskUserQuestion",
                                   {{"questions", Json::array({question})}},
                                   false,
                                   ""});
        return reply;
    }
    reply.scenario = "ask/answered";
    const std::string answer =
        c.toolResultsThisTurn.empty() ? std::string() : c.toolResultsThisTurn.back();
    reply.text = "You answered. The tool said: " + answer;
    return reply;
}

Reply slowTool(const Conversation& c, Api api) {
    Reply reply;
    if (c.stepsThisTurn == 0) {
        reply.scenario = "slow/shell";
        reply.text = "Running a slow command.";
        reply.toolCalls.push_back(
            shellCall(c, api, "touch slow.started && sleep 30 && touch slow.done", "Wait"));
        if (!reply.toolCalls.back().name.empty()) return reply;
        reply.toolCalls.clear();
    }
    reply.scenario = "slow/final";
    reply.text = "The slow command finished.";
    return reply;
}

Reply recall(const Conversation& c) {
    Reply reply;
    reply.scenario = "recall";
    std::string earlier;
    for (std::size_t i = 0; i + 1 < c.userPrompts.size(); ++i) {
        earlier += (earlier.empty() ? "" : " | ") + c.userPrompts[i];
    }
    reply.text = "I remember " + std::to_string(c.userPrompts.size() - 1) +
                 " earlier prompt(s): " + (earlier.empty() ? "none" : earlier) + ".";
    return reply;
}

constexpr int kMaxSteps = 8;  // a CLI that keeps calling tools still ends its turn

}  // namespace

void noteToolCall(Conversation& c, const std::string& name, const std::string& callId) {
    c.toolsCalledThisTurn.push_back(name);
    static const std::regex stepMark(R"(_s([0-9]+)$)");
    std::smatch match;
    if (std::regex_search(callId, match, stepMark)) {
        c.stepsThisTurn = std::max(c.stepsThisTurn, std::stoi(match[1].str()) + 1);
    }
}

void noteUserPrompt(Conversation& c, const std::string& prompt) {
    c.userPrompts.push_back(prompt);
    c.toolsCalledThisTurn.clear();
    c.toolResultsThisTurn.clear();
    c.stepsThisTurn = 0;
}

void noteDeferredTools(Conversation& c, const std::string& systemText) {
    // "The following deferred tools are now available via ToolSearch. ...:\nCronCreate\n..."
    const auto intro = systemText.find("available via ToolSearch");
    if (intro == std::string::npos) return;
    auto line = systemText.find('\n', intro);
    while (line != std::string::npos) {
        const auto next = systemText.find('\n', line + 1);
        const std::string name = systemText.substr(
            line + 1, (next == std::string::npos ? systemText.size() : next) - line - 1);
        if (name.empty() || name.find_first_of(" .:") != std::string::npos) break;
        c.offeredTools.insert(name);
        c.deferredTools.insert(name);
        line = next;
    }
}

const char* apiName(Api api) {
    switch (api) {
        case Api::Anthropic:
            return "anthropic-messages";
        case Api::Responses:
            return "openai-responses";
        case Api::Chat:
            return "openai-chat";
    }
    return "?";
}

const std::string& Conversation::lastPrompt() const {
    static const std::string none;
    return userPrompts.empty() ? none : userPrompts.back();
}

bool Conversation::called(const std::string& tool) const {
    return std::find(toolsCalledThisTurn.begin(), toolsCalledThisTurn.end(), tool) !=
           toolsCalledThisTurn.end();
}

std::string textOf(const Json& content) {
    if (content.is_string()) return content.get<std::string>();
    std::string text;
    if (content.is_array()) {
        for (const auto& part : content) {
            if (part.is_string()) {
                text += part.get<std::string>();
            } else if (part.is_object() && part.contains("text") && part["text"].is_string()) {
                if (!text.empty()) text += "\n";
                text += part["text"].get<std::string>();
            }
        }
    }
    return text;
}

bool isWrapperText(const std::string& text) {
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) return true;
    return text[first] == '<' || text.compare(first, 12, "# AGENTS.md ") == 0;
}

std::string findWorkingDirectory(const std::string& text) {
    static const std::regex patterns[] = {
        std::regex(R"(<cwd>([^<\n]+)</cwd>)"),
        std::regex(R"(Primary working directory: (/[^\s]+))"),
        std::regex(R"([Ww]orking directory: (/[^\s]+))"),
    };
    std::smatch match;
    for (const auto& pattern : patterns) {
        if (std::regex_search(text, match, pattern)) return match[1].str();
    }
    return "";
}

Reply scriptedReply(const Conversation& conversation, Api api) {
    Reply reply;
    const std::string& prompt = conversation.lastPrompt();
    if (conversation.offeredTools.empty()) {
        reply.scenario = "side-request";
        reply.text = "Scripted session title";
    } else if (contains(prompt, "FAIL500")) {
        reply.scenario = "http500";
        reply.httpStatus = 500;
        reply.errorMessage = "scripted failure: the model server answers 500";
        if (contains(prompt, "RETRYAFTER")) reply.retryAfterMs = 100;
    } else if (contains(prompt, "FAIL400")) {
        reply.scenario = "http400";
        reply.httpStatus = 400;
        reply.errorMessage = "scripted failure: the model server refuses this request (400)";
    } else if (conversation.stepsThisTurn >= kMaxSteps) {
        reply.scenario = "step-limit";
        reply.text = "Stopping: this turn took too many steps.";
    } else if (contains(prompt, "TOOLS_AND_TODOS")) {
        reply = toolsAndTodos(conversation, api);
    } else if (contains(prompt, "ASKUSER")) {
        reply = askUser(conversation, api);
    } else if (contains(prompt, "SLOWTOOL")) {
        reply = slowTool(conversation, api);
    } else if (contains(prompt, "RECALL")) {
        reply = recall(conversation);
    } else if (contains(prompt, "LONGPROMPT")) {
        // Surrounding whitespace left out: a CLI may add a newline to what it read.
        const auto first = prompt.find_first_not_of(" \t\r\n");
        const auto last = prompt.find_last_not_of(" \t\r\n");
        reply.scenario = "long-prompt";
        reply.text = "Received a prompt of " + std::to_string(last - first + 1) + " bytes.";
    } else {
        reply.scenario = "hello";
        reply.text = "Hello from the scripted model server.";
    }
    // A tool the CLI does not offer cannot be called: drop it rather than confuse the CLI.
    reply.toolCalls.erase(std::remove_if(reply.toolCalls.begin(), reply.toolCalls.end(),
                                         [](const ToolCall& call) { return call.name.empty(); }),
                          reply.toolCalls.end());
    reply.usage = usageFor(conversation);
    return reply;
}

}  // namespace aw::model_server
