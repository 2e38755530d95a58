// The API tests' command line (tests/api/CMakeLists.txt registers them with ctest):
//   node check_openapi.mjs lint <openapi.json>
//       the document passes the OpenAPI 3.1 schema and every schema in it compiles
//   node check_openapi.mjs responses <openapi.json> <record dir>
//       every response the suites recorded there (*.jsonl, tests/support/api_recorder.h)
//       matches the document
// Exit status 0 when all is well, 1 with one line per problem otherwise.
import { readFileSync, readdirSync, existsSync } from "node:fs";
import { join } from "node:path";
import { lintDocument, ResponseChecker } from "./openapi_validator.mjs";

function readRecords(dir) {
  const records = [];
  if (!existsSync(dir)) return records;
  for (const name of readdirSync(dir).filter((n) => n.endsWith(".jsonl")).sort()) {
    const lines = readFileSync(join(dir, name), "utf8").split("\n");
    lines.forEach((line, index) => {
      if (!line.trim()) return;
      try {
        records.push({ ...JSON.parse(line), source: `${name}:${index + 1}` });
      } catch (e) {
        records.push({ broken: `${name}:${index + 1}: not JSON (${e.message})` });
      }
    });
  }
  return records;
}

async function main() {
  const [command, documentPath, recordDir] = process.argv.slice(2);
  if (!documentPath || (command === "responses" && !recordDir) || !["lint", "responses"].includes(command)) {
    console.error("usage: check_openapi.mjs lint <openapi.json> | responses <openapi.json> <record dir>");
    process.exit(2);
  }
  const document = JSON.parse(readFileSync(documentPath, "utf8"));
  if (command === "lint") {
    const problems = await lintDocument(document);
    for (const problem of problems) console.error(`FAIL: ${problem}`);
    if (problems.length) process.exit(1);
    console.log(`${documentPath}: a valid OpenAPI ${document.openapi} document, ` +
                `${Object.keys(document.paths).length} paths`);
    return;
  }
  const checker = await ResponseChecker.create(document);
  const records = readRecords(recordDir);
  // One line per distinct problem (told apart without the body they quote), with the first
  // test that met it and how often it came.
  const problems = new Map();
  for (const record of records) {
    const found = record.broken ? [record.broken] : checker.checkRecord(record);
    for (const problem of found) {
      const key = problem.split(/; (?:body|data): /)[0];
      const seen = problems.get(key);
      if (seen) {
        seen.count += 1;
      } else {
        problems.set(key, { problem, where: `${record.test || "?"} (${record.source || "?"})`, count: 1 });
      }
    }
  }
  for (const { problem, where, count } of problems.values()) {
    console.error(`FAIL: ${problem}\n      seen in ${where}${count > 1 ? `, and ${count - 1} more times` : ""}`);
  }
  console.log(`${records.length} recorded responses and events from ${recordDir} checked against ${documentPath}; ` +
              `${problems.size} problems`);
  if (problems.size) process.exit(1);
}

main().catch((e) => {
  console.error(`FAIL: ${e.stack || e}`);
  process.exit(1);
});
