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
  // One line per distinct problem, with the first test that met it.
  const problems = new Map();
  const routes = new Set();
  for (const record of records) {
    const found = record.broken ? [record.broken] : checker.checkRecord(record);
    if (!record.broken && record.kind !== "sse_event") routes.add(`${record.method} ${String(record.path).split("?")[0]}`);
    for (const problem of found) {
      if (!problems.has(problem)) problems.set(problem, `${record.test || "?"} (${record.source || "?"})`);
    }
  }
  for (const [problem, where] of problems) console.error(`FAIL: ${problem}\n      seen in ${where}`);
  console.log(`${records.length} recorded responses and events from ${recordDir} checked against ${documentPath}; ` +
              `${problems.size} problems`);
  if (problems.size) process.exit(1);
}

main().catch((e) => {
  console.error(`FAIL: ${e.stack || e}`);
  process.exit(1);
});
