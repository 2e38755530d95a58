// Checks HTTP responses against docs/openapi.yaml (as build/generated/openapi.json): the route,
// the method, the status, the content type and the body's schema. Used by
// check_recorded_responses.mjs (every response the end-to-end suites received) and by
// openapi_validator_test.mjs (it must reject what the document does not describe).
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

// Keep in step with scripts/install-api-validator.sh.
const kValidatorPrefix = "api-validator@2.11.0-8.20.0-3.0.1";

//! The node_modules scripts/install-api-validator.sh filled; exits saying so when it is missing.
export function validatorModules() {
  const cache = process.env.AW_TEST_SERVERS_CACHE || join(homedir(), ".cache/agent-worker/test-servers");
  const modules = join(cache, kValidatorPrefix, "node_modules");
  if (!existsSync(join(modules, "ajv")) || !existsSync(join(modules, "@seriousme/openapi-schema-validator"))) {
    console.error(`FAIL: the OpenAPI validators are not installed in ${modules}; ` +
                  "run scripts/install-api-validator.sh (make test does)");
    process.exit(1);
  }
  return modules;
}

function requireFrom(modules) {
  return createRequire(join(modules, "aw-api-validator.cjs"));
}

//! The document checked against the OpenAPI 3.1 schema by @seriousme/openapi-schema-validator,
//! and every schema in it compiled by ajv; a list of problems (empty: valid).
export async function lintDocument(document) {
  const modules = validatorModules();
  const { Validator } = await import(pathToFileURL(join(modules, "@seriousme/openapi-schema-validator/index.js")));
  const validator = new Validator();
  const result = await validator.validate(structuredClone(document));
  const problems = [];
  if (!result.valid) {
    for (const error of [].concat(result.errors)) problems.push(`OpenAPI schema: ${JSON.stringify(error)}`);
  }
  if (!String(document.openapi).startsWith("3.1.")) problems.push(`openapi is ${document.openapi}, not 3.1.x`);
  try {
    const checker = await ResponseChecker.create(document);
    problems.push(...checker.compileAll());
  } catch (e) {
    problems.push(`schemas do not compile: ${e.message}`);
  }
  return problems;
}

//! The JSON pointer `ref` ("#/a/b") in `document`.
function resolvePointer(document, ref) {
  if (!ref.startsWith("#/")) throw new Error(`only local $refs are supported: ${ref}`);
  let node = document;
  for (const raw of ref.slice(2).split("/")) {
    const key = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~");
    if (node === null || typeof node !== "object" || !(key in node)) throw new Error(`unresolved $ref ${ref}`);
    node = node[key];
  }
  return node;
}

function pointerEscape(key) {
  return key.replace(/~/g, "~0").replace(/\//g, "~1");
}

//! Keywords OpenAPI adds to JSON Schema that ajv would read otherwise (discriminator: ajv's
//! own reading needs more than OpenAPI does; oneOf decides anyway).
function withoutOpenApiKeywords(node) {
  if (Array.isArray(node)) return node.map(withoutOpenApiKeywords);
  if (node === null || typeof node !== "object") return node;
  const copy = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === "discriminator" || key === "example" || key === "xml" || key === "externalDocs") continue;
    copy[key] = withoutOpenApiKeywords(value);
  }
  return copy;
}

//! The codes of a 400 the server answers before it looks for a route.
const kRefusedBeforeRouting = ["invalid_request", "invalid_path", "invalid_query"];

const kDocumentId = "https://agent-worker.invalid/openapi.json";

export class ResponseChecker {
  static async create(document) {
    const modules = validatorModules();
    const require = requireFrom(modules);
    const Ajv2020 = require("ajv/dist/2020").default;
    const addFormats = require("ajv-formats").default;
    const ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false });
    addFormats(ajv);
    const schemaDocument = withoutOpenApiKeywords(document);
    ajv.addSchema({ ...schemaDocument, $id: kDocumentId });
    return new ResponseChecker(document, ajv);
  }

  constructor(document, ajv) {
    this.document = document;
    this.ajv = ajv;
    this.validators = new Map();
    // Path templates: "/v1/runs/{rid}/events" -> a regular expression per template.
    this.routes = Object.keys(document.paths || {}).map((template) => ({
      template,
      pattern: new RegExp("^" + template.split("/").map((segment) =>
        /^\{[^}]+\}$/.test(segment) ? "[^/]+" : segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("/") + "$"),
    }));
  }

  validatorAt(pointer) {
    let validate = this.validators.get(pointer);
    if (!validate) {
      validate = this.ajv.compile({ $ref: kDocumentId + pointer });
      this.validators.set(pointer, validate);
    }
    return validate;
  }

  //! Every response schema and the event schema compiled once; problems as strings.
  compileAll() {
    const problems = [];
    const pointers = ["#/components/schemas/RunEvent"];
    for (const [template, item] of Object.entries(this.document.paths || {})) {
      for (const [method, operation] of Object.entries(item)) {
        if (!operation || typeof operation !== "object" || !operation.responses) continue;
        for (const status of Object.keys(operation.responses)) {
          const { pointer } = this.responseAt(template, method, status);
          const response = resolvePointer(this.document, pointer);
          for (const mediaType of Object.keys(response.content || {})) {
            if (response.content[mediaType].schema) {
              pointers.push(`${pointer}/content/${pointerEscape(mediaType)}/schema`);
            }
          }
        }
      }
    }
    for (const pointer of pointers) {
      try {
        this.validatorAt(pointer);
      } catch (e) {
        problems.push(`${pointer}: ${e.message}`);
      }
    }
    return problems;
  }

  //! The response object of an operation's status, following a $ref to components/responses.
  responseAt(template, method, status) {
    let pointer = `#/paths/${pointerEscape(template)}/${method}/responses/${status}`;
    let response = resolvePointer(this.document, pointer);
    while (response.$ref) {
      pointer = response.$ref;
      response = resolvePointer(this.document, pointer);
    }
    return { pointer, response };
  }

  routeOf(path) {
    return this.routes.find((route) => route.pattern.test(path));
  }

  //! Problems with one recorded response (empty: it matches the document). A record:
  //! {method, path, status, content_type, body}; the path may carry a query.
  check(record) {
    const method = String(record.method || "").toUpperCase();
    const path = String(record.path || "").split("?")[0];
    const status = Number(record.status);
    // A HEAD answer has no body to name its error: its status alone must fit.
    const headOnly = method === "HEAD";
    const errorCode = errorCodeOf(record.body);
    const isError = (code) => errorCode === code || (headOnly && !record.body);
    const route = this.routeOf(path);
    if (!route) {
      // The router's answers to a path it does not serve, or one refused before any route is
      // chosen (a malformed path or query, a body too large), are documented (docs/api.md).
      if (status === 404 && isError("not_found")) return [];
      if (status === 400 && kRefusedBeforeRouting.some(isError)) return [];
      if (status === 413 && isError("body_too_large")) return [];
      return [`route ${method} ${path} status ${status} not in docs/openapi.yaml (no path there matches ${path}; add it under paths)`];
    }
    const item = this.document.paths[route.template];
    const operationMethod = method === "HEAD" && !item.head ? "get" : method.toLowerCase();
    const operation = item[operationMethod];
    if (!operation) {
      if (status === 405 && isError("method_not_allowed")) return [];
      return [`route ${method} ${route.template} status ${status} not in docs/openapi.yaml (no ${method} operation on ${route.template})`];
    }
    if (!operation.responses || !(String(status) in operation.responses)) {
      const documented = Object.keys(operation.responses || {}).join(", ");
      return [`route ${method} ${route.template} status ${status} not in docs/openapi.yaml (documented: ${documented})`];
    }
    if (headOnly) return [];  // the same status and headers as GET, no body
    const { pointer, response } = this.responseAt(route.template, operationMethod, status);
    const where = `${method} ${route.template} ${status}`;
    const content = response.content || {};
    const mediaType = String(record.content_type || "").split(";")[0].trim().toLowerCase();
    if (Object.keys(content).length === 0) {
      return record.body ? [`${where}: the document describes no body, but one came (${mediaType})`] : [];
    }
    if (!(mediaType in content)) {
      return [`${where}: content type '${mediaType}' not in docs/openapi.yaml (documented: ${Object.keys(content).join(", ")})`];
    }
    if (mediaType !== "application/json" || !content[mediaType].schema) return [];
    let body;
    try {
      body = JSON.parse(record.body);
    } catch (e) {
      return [`${where}: the body is not JSON (${e.message}): ${String(record.body).slice(0, 200)}`];
    }
    const validate = this.validatorAt(`${pointer}/content/${pointerEscape(mediaType)}/schema`);
    if (validate(body)) return [];
    return [`${where}: the body does not match docs/openapi.yaml: ${describeErrors(validate.errors)}; body: ${String(record.body).slice(0, 400)}`];
  }

  //! Problems with one event of a server-sent event stream: {id, event, data}.
  checkEvent(record) {
    let event;
    try {
      event = JSON.parse(record.data);
    } catch (e) {
      return [`event stream ${record.path}: a frame's data is not JSON (${e.message})`];
    }
    const problems = [];
    const validate = this.validatorAt("#/components/schemas/RunEvent");
    if (!validate(event)) {
      problems.push(`event stream ${record.path}: event ${record.id} (${record.event}) does not match RunEvent in docs/openapi.yaml: ${describeErrors(validate.errors)}; data: ${String(record.data).slice(0, 400)}`);
    }
    if (record.event !== event.type) problems.push(`event stream ${record.path}: frame event '${record.event}' but data.type '${event.type}'`);
    if (String(record.id) !== String(event.seq)) problems.push(`event stream ${record.path}: frame id '${record.id}' but data.seq ${event.seq}`);
    return problems;
  }

  //! Dispatches on the record's kind.
  checkRecord(record) {
    return record.kind === "sse_event" ? this.checkEvent(record) : this.check(record);
  }
}

function errorCodeOf(body) {
  try {
    const parsed = JSON.parse(body);
    return parsed && parsed.error && parsed.error.code;
  } catch {
    return undefined;
  }
}

//! ajv's errors, the telling ones first: a oneOf's branches each fail, so the branch errors
//! that are not "must be equal to constant" (the wrong event type) say what is wrong.
function describeErrors(errors) {
  const list = errors || [];
  const telling = list.filter((e) => e.keyword !== "oneOf" && !(e.keyword === "const" && e.instancePath.endsWith("/type")));
  return (telling.length ? telling : list).slice(0, 5)
    .map((e) => `${e.instancePath || "(root)"} ${e.message}${e.params && e.params.allowedValues ? " " + JSON.stringify(e.params.allowedValues) : ""}`)
    .join("; ");
}
