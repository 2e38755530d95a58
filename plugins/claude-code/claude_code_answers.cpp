// A human's reply to AskUserQuestion, in the form the tool takes (docs/events.md, the reply
// document: answers by question text or by position).
#include "claude_code_answers.h"

namespace aw::claude_code {
namespace {

//! One answer: a label, or several labels of a multi-select question joined with ", ".
std::string joinedAnswer(const Json& answer) {
    if (answer.is_string()) return answer.get<std::string>();
    if (!answer.is_array() || answer.empty()) {
        throw InvalidInput("each answer must be a label or a list of labels");
    }
    std::string joined;
    for (const Json& label : answer) {
        if (!label.is_string()) throw InvalidInput("answer labels must be strings");
        if (!joined.empty()) joined += ", ";
        joined += label.get<std::string>();
    }
    return joined;
}

}  // namespace

Json answersFor(const Json& answers, const Json& input) {
    Json byQuestion = Json::object();
    if (answers.is_object()) {
        for (const auto& [question, answer] : answers.items()) {
            byQuestion[question] = joinedAnswer(answer);
        }
    } else if (answers.is_array()) {
        const Json* questions = member(input, "questions");
        for (size_t i = 0; i < answers.size(); ++i) {
            if (!questions || !questions->is_array() || i >= questions->size()) {
                throw InvalidInput("more answers than questions");
            }
            byQuestion[stringAt((*questions)[i], "question")] = joinedAnswer(answers[i]);
        }
    }
    if (byQuestion.empty()) {
        throw InvalidInput("reply.answers must map each question to a label");
    }
    return byQuestion;
}

}  // namespace aw::claude_code
