// Splits a migration file into statements, since drivers execute one statement at a time.
#pragma once

#include <string>
#include <vector>

namespace aw {

//! Statements separated by `;`, ignoring semicolons inside quotes ('...', "..."),
//! dollar quotes ($$...$$, $tag$...$tag$), `--` line comments and `/* */` block comments.
//! Comment-only and empty statements are dropped; statements keep their comments.
std::vector<std::string> splitSqlStatements(const std::string& script);

}  // namespace aw
