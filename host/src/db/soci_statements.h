// Statement helpers every SOCI repository uses. Each statement names each placeholder once
// and binds its values in the order the placeholders appear, so one text runs on SQLite and
// PostgreSQL.
#pragma once

#include <soci/soci.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace aw::stmt {

//! Text that is stored as NULL when empty.
struct NullableText {
    explicit NullableText(std::string value)
        : text(std::move(value)), ind(text.empty() ? soci::i_null : soci::i_ok) {}
    std::string text;
    mutable soci::indicator ind;
};

template <typename T>
void bindUse(soci::details::prepare_temp_type& prep, const T& value) {
    prep, soci::use(value);
}
inline void bindUse(soci::details::prepare_temp_type& prep, const NullableText& value) {
    prep, soci::use(value.text, value.ind);
}

//! Runs a statement that returns no rows; the number of rows it changed.
template <typename... Values>
long long execute(soci::session& sql, const std::string& query, const Values&... values) {
    soci::details::prepare_temp_type prep = (sql.prepare << query);
    (bindUse(prep, values), ...);
    soci::statement statement(prep);
    statement.execute(true);
    return statement.get_affected_rows();
}

//! Every row of `query`, fetched into a `Row` (which binds its columns in `bind` and maps
//! them in `get`).
template <typename Row, typename... Values>
auto select(soci::session& sql, const std::string& query, const Values&... values) {
    Row row;
    soci::details::prepare_temp_type prep = (sql.prepare << query);
    row.bind(prep);
    (bindUse(prep, values), ...);
    soci::statement statement(prep);
    statement.execute();
    std::vector<decltype(row.get())> rows;
    while (statement.fetch()) rows.push_back(row.get());
    return rows;
}

//! Steps a statement kept for reuse past its last row: a SQLite statement left mid-result
//! keeps its read transaction, and that transaction's snapshot, open on the connection.
inline void finish(soci::statement& statement) {
    while (statement.fetch()) {
    }
}

template <typename Row, typename... Values>
auto selectOne(soci::session& sql, const std::string& query, const Values&... values)
    -> std::optional<decltype(std::declval<Row>().get())> {
    auto rows = select<Row>(sql, query, values...);
    if (rows.empty()) return std::nullopt;
    return std::move(rows.front());
}

}  // namespace aw::stmt
