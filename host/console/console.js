// The operator console: lists providers, sessions, runs and the queue, and follows one run's
// event stream as a conversation. It speaks only the public HTTP API (docs/api.md) with the
// tokens the operator entered (kept in sessionStorage, gone with the tab). Everything an
// agent produced is shown with textContent, never parsed as HTML: agents run untrusted code.
"use strict";

const REFRESH_MS = 2000;
const RECONNECT_MS = 1000;
const TERMINAL = new Set(["completed", "failed", "stopped"]);
const TERMINAL_EVENTS = { "run.completed": "completed", "run.failed": "failed", "run.stopped": "stopped" };

const tokens = {
  admin: sessionStorage.getItem("aw.adminToken") || "",
  client: sessionStorage.getItem("aw.clientToken") || "",
};
let refreshTimer = null;
let view = null; // the run shown: {runId, seq, status, stream: AbortController, messages, tools, pending}

// ---- the API ------------------------------------------------------------------------------

// `scope` says which token the route takes: "admin" for /admin/..., "client" for /v1/...
async function api(scope, path, options = {}) {
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  if (tokens[scope]) headers.Authorization = "Bearer " + tokens[scope];
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method: options.method || "GET",
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    signal: options.signal,
  });
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
  if (!response.ok) {
    const error = (json && json.error) || {};
    const problem = new Error(`${response.status} ${error.code || ""}: ${error.message || text}`);
    problem.status = response.status;
    throw problem;
  }
  return json;
}

function showConnection(text, kind) {
  const element = document.getElementById("connection");
  element.textContent = text;
  element.className = kind;
}

// ---- small DOM helpers ----------------------------------------------------------------------

function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null) continue;
    if (name === "className") element.className = value;
    else if (name === "onclick") element.addEventListener("click", value);
    else element.setAttribute(name, value);
  }
  for (const child of children) {
    if (child === undefined || child === null) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

function cell(text, className) {
  return el("td", { className }, text === null || text === undefined ? "—" : text);
}

function statusCell(status) {
  return el("td", {}, el("span", { className: "status " + status }, status));
}

function time(iso) {
  return iso ? iso.replace("T", " ").replace(/\.\d+Z$/, "Z") : "never";
}

function usageText(usage) {
  if (!usage || typeof usage !== "object") return "";
  const parts = [];
  if (usage.input_tokens !== undefined) parts.push(`in ${usage.input_tokens}`);
  if (usage.output_tokens !== undefined) parts.push(`out ${usage.output_tokens}`);
  if (usage.cache_read_tokens) parts.push(`cache ${usage.cache_read_tokens}`);
  if (typeof usage.cost_usd === "number") parts.push(`$${usage.cost_usd.toFixed(4)}`);
  return parts.join(" · ");
}

function fillTable(id, rows) {
  document.querySelector(`#${id} tbody`).replaceChildren(...rows);
}

// ---- the lists ------------------------------------------------------------------------------

function providerRow(provider) {
  const name = provider.name || provider.file;
  const restart = el("button", {
    type: "button", className: "restart", "data-provider": name,
    onclick: async (event) => {
      event.target.disabled = true;
      try {
        await api("admin", `/admin/providers/${encodeURIComponent(name)}/restart`, { method: "POST", body: {} });
        refresh();
      } catch (error) {
        showConnection(`restart ${name}: ${error.message}`, "error");
        event.target.disabled = false;
      }
    },
  }, "Restart");
  return el("tr", { "data-provider": name },
    cell(provider.name || "(no name)"), cell(provider.version), statusCell(provider.status),
    cell((provider.capabilities || []).join(", ")), cell(provider.pid), cell(provider.restarts),
    cell(provider.in_flight), cell(provider.last_error, "error"), el("td", {}, restart));
}

function sessionRow(session) {
  const usage = Object.entries(session.provider_usage || {})
    .map(([provider, figures]) => `${provider}: ${usageText(figures)}`).join("; ");
  const sync = session.last_sync_status + (session.last_sync_at ? " at " + time(session.last_sync_at) : "");
  return el("tr", { "data-session-id": session.session_id },
    cell(session.session_id), statusCell(session.status), cell(session.runtime),
    cell(sync + (session.last_sync_error ? ": " + session.last_sync_error : "")),
    cell(time(session.last_active_at)), cell(usage));
}

function runRow(run) {
  const row = el("tr", {
    "data-run-id": run.run_id, className: "clickable" + (view && view.runId === run.run_id ? " selected" : ""),
    onclick: () => openRun(run.run_id),
  }, cell(run.run_id), cell(run.session_id), cell(run.provider), statusCell(run.status),
  cell(time(run.created_at)), cell(usageText(run.usage)));
  return row;
}

function queueRow(entry) {
  return el("tr", { "data-queue-id": entry.queue_id },
    cell(entry.queue_id), cell(entry.run_id), cell(entry.session_id), statusCell(entry.status),
    cell(`${entry.attempts}/${entry.max_attempts}`), cell(time(entry.available_at)),
    cell(entry.last_error, "error"));
}

async function refresh() {
  const lists = [
    ["admin", "/admin/providers", (body) => fillTable("providers", body.providers.map(providerRow))],
    ["client", "/v1/sessions?limit=50", (body) => fillTable("sessions", body.sessions.map(sessionRow))],
    ["client", "/v1/runs?limit=50", (body) => fillTable("runs", body.runs.map(runRow))],
    ["client", "/v1/run-queue?limit=50", (body) => fillTable("queue", body.entries.map(queueRow))],
  ];
  const failures = [];
  await Promise.all(lists.map(async ([scope, path, render]) => {
    try {
      render(await api(scope, path));
    } catch (error) {
      failures.push(`${path}: ${error.message}` +
        (error.status === 401 || error.status === 403 ? ` (check the ${scope} token)` : ""));
    }
  }));
  if (failures.length) showConnection(failures.join(" | "), "error");
  else showConnection("connected · " + new Date().toLocaleTimeString(), "ok");
}

function startRefreshing() {
  clearInterval(refreshTimer);
  refresh();
  refreshTimer = setInterval(refresh, REFRESH_MS);
}

// ---- one run: its events as a conversation ---------------------------------------------------

function setRunStatus(status) {
  view.status = status;
  const element = document.getElementById("run-status");
  element.textContent = status;
  element.className = "status " + status;
  document.getElementById("stop-run").disabled = TERMINAL.has(status);
}

function append(item) {
  document.getElementById("conversation").append(item);
  return item;
}

function note(event, text) {
  append(el("li", { className: "note", "data-type": event.type }, `${event.type}${text ? " · " + text : ""}`));
}

function messageItem(data) {
  let item = view.messages.get(data.message_id);
  if (!item) {
    item = append(el("li", { className: "message " + data.kind, "data-message-id": data.message_id },
      el("span", { className: "label" }, data.kind === "reasoning" ? "reasoning" : "assistant"),
      el("div", { className: "message-text" })));
    view.messages.set(data.message_id, item);
  }
  return item;
}

function toolItem(data) {
  let item = view.tools.get(data.tool_call_id);
  if (!item) {
    item = append(el("li", { className: "tool", "data-tool-call-id": data.tool_call_id, "data-tool-name": data.name },
      el("span", { className: "label" }, "tool " + data.name),
      el("pre", { className: "tool-input" }), el("pre", { className: "tool-output" }, "…")));
    view.tools.set(data.tool_call_id, item);
  }
  return item;
}

function renderTodos(todos) {
  document.getElementById("todos").replaceChildren(...todos.map((todo) =>
    el("li", { className: todo.status, "data-todo-id": todo.id },
      el("input", { type: "checkbox", disabled: "", ...(todo.status === "completed" ? { checked: "" } : {}) }),
      " ", el("span", {}, todo.content))));
}

function renderUsage(usage) {
  const rows = [];
  for (const [name, value] of Object.entries(usage)) {
    if (typeof value === "object") continue;
    rows.push(el("dt", {}, name.replace(/_/g, " ")), el("dd", { "data-usage": name }, value));
  }
  document.getElementById("usage").replaceChildren(...rows);
}

// A question request's choices: one group of options per question (checkboxes when several
// may be chosen), read back as the `answers` object of the reply.
function questionChoices(request, index) {
  return (request.questions || []).map((question, number) => el("fieldset", { "data-question": question.question },
    el("legend", {}, question.header ? `${question.header}: ${question.question}` : question.question),
    ...(question.options || []).map((option) => el("label", {},
      el("input", {
        type: question.multiSelect ? "checkbox" : "radio", name: `q-${index}-${number}`, value: option.label,
      }), ` ${option.label}`, option.description ? ` — ${option.description}` : ""))));
}

function chosenAnswers(card) {
  const answers = {};
  for (const fieldset of card.querySelectorAll("fieldset[data-question]")) {
    const chosen = [...fieldset.querySelectorAll("input:checked")].map((input) => input.value);
    const multiple = fieldset.querySelector("input[type=checkbox]") !== null;
    if (chosen.length) answers[fieldset.dataset.question] = multiple ? chosen : chosen[0];
  }
  return answers;
}

function renderApprovals() {
  const cards = [...view.pending.values()].map((request, index) => {
    const answer = async (decision, button) => {
      const card = button.closest(".approval");
      const buttons = card.querySelectorAll("button");
      for (const other of buttons) other.disabled = true;
      const body = { request_id: request.request_id, decision };
      if (request.kind === "question" && decision === "allow") body.answers = chosenAnswers(card);
      try {
        await api("client", `/v1/runs/${encodeURIComponent(view.runId)}/human-reply`, { method: "POST", body });
      } catch (error) {
        showConnection(`reply: ${error.message}`, "error");
        for (const other of buttons) other.disabled = false;
      }
    };
    const isQuestion = request.kind === "question";
    return el("div", { className: "approval", "data-request-id": request.request_id },
      el("p", {}, el("span", { className: "label" }, `${request.kind}: ${request.tool}`), request.description || ""),
      isQuestion ? null : el("pre", {}, JSON.stringify(request.input, null, 2)),
      ...(isQuestion ? questionChoices(request, index) : []),
      el("button", { type: "button", "data-decision": "allow", onclick: (e) => answer("allow", e.target) },
        isQuestion ? "Answer" : "Allow"),
      el("button", { type: "button", "data-decision": "deny", onclick: (e) => answer("deny", e.target) }, "Deny"));
  });
  document.getElementById("approvals").replaceChildren(...cards);
}

// One event of the run, in seq order.
function show(event) {
  const data = event.data || {};
  switch (event.type) {
    case "message.start":
      messageItem(data);
      break;
    case "message.delta": // live typing: the pieces as the CLI writes them
      messageItem(data).querySelector(".message-text").textContent += data.text;
      break;
    case "message.stop": // the whole text is the reference, whatever deltas came
      messageItem(data).querySelector(".message-text").textContent = data.text;
      break;
    case "tool.start":
      toolItem(data).querySelector(".tool-input").textContent = JSON.stringify(data.input, null, 2);
      break;
    case "tool.result": {
      const item = toolItem(data);
      item.querySelector(".tool-output").textContent = data.output;
      item.classList.toggle("is-error", !!data.is_error);
      break;
    }
    case "todo.update":
      renderTodos(data.todos || []);
      break;
    case "usage":
      renderUsage(data);
      break;
    case "human.request":
      view.pending.set(data.request_id, data);
      renderApprovals();
      append(el("li", { className: "human", "data-request-id": data.request_id },
        el("span", { className: "label" }, `asks: ${data.kind} for ${data.tool}`)));
      break;
    case "human.response":
      view.pending.delete(data.request_id);
      renderApprovals();
      append(el("li", { className: "human response", "data-request-id": data.request_id },
        el("span", { className: "label" }, `answered: ${data.decision}`), data.by ? `by ${data.by}` : ""));
      break;
    case "run.started": case "run.resumed":
      setRunStatus("running");
      note(event);
      break;
    case "run.waiting_human":
      setRunStatus("waiting_human");
      note(event);
      break;
    default:
      if (TERMINAL_EVENTS[event.type]) {
        finishRun(TERMINAL_EVENTS[event.type], data);
        note(event);
      } else {
        note(event, event.type === "provider.notice" ? data.message : "");
      }
  }
}

function finishRun(status, data) {
  setRunStatus(status);
  view.pending.clear();
  renderApprovals();
  const outcome = document.getElementById("outcome");
  const error = data.error ? ` · ${data.error.class}: ${data.error.message}` : "";
  outcome.textContent = status + (data.result ? ` · ${data.result}` : "") + error;
  outcome.className = status;
  if (data.usage) renderUsage(data.usage);
}

// Reads the run's server-sent events with fetch (EventSource cannot send a token) and
// reconnects after Last-Event-ID until the run has ended.
async function follow(current) {
  while (view === current && !TERMINAL.has(current.status)) {
    try {
      const headers = { Accept: "text/event-stream" };
      if (tokens.client) headers.Authorization = "Bearer " + tokens.client;
      if (current.seq > 0) headers["Last-Event-ID"] = String(current.seq);
      const response = await fetch(`/v1/runs/${encodeURIComponent(current.runId)}/events`,
        { headers, signal: current.stream.signal });
      if (response.status === 204) return; // the run ended and everything was sent
      if (!response.ok) throw new Error(`events: ${response.status}`);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n?/g, "\n");
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = frame.split("\n").filter((line) => line.startsWith("data:"))
            .map((line) => line.slice(line.startsWith("data: ") ? 6 : 5)).join("\n");
          if (!data) continue; // a keep-alive comment
          const event = JSON.parse(data);
          if (view !== current || event.seq <= current.seq) continue;
          current.seq = event.seq;
          show(event);
        }
      }
    } catch (error) {
      if (current.stream.signal.aborted) return;
      showConnection(error.message, "error");
    }
    if (view === current && !TERMINAL.has(current.status)) {
      await new Promise((resolve) => setTimeout(resolve, RECONNECT_MS));
    }
  }
}

async function openRun(runId) {
  if (view) view.stream.abort();
  view = { runId, seq: 0, status: "", stream: new AbortController(), messages: new Map(), tools: new Map(), pending: new Map() };
  const current = view;
  document.getElementById("run-view").hidden = false;
  document.getElementById("run-id").textContent = runId;
  for (const id of ["conversation", "todos", "usage", "approvals"]) document.getElementById(id).replaceChildren();
  const outcome = document.getElementById("outcome");
  outcome.textContent = "running…";
  outcome.className = "";
  for (const row of document.querySelectorAll("#runs tbody tr")) {
    row.classList.toggle("selected", row.dataset.runId === runId);
  }
  try {
    const run = await api("client", `/v1/runs/${encodeURIComponent(runId)}`);
    if (view !== current) return;
    document.getElementById("run-session").textContent = "session " + run.session_id;
    document.getElementById("run-provider").textContent = "· " + run.provider;
    setRunStatus(TERMINAL.has(run.status) ? "running" : run.status); // the stream says how it ended
  } catch (error) {
    showConnection(`run ${runId}: ${error.message}`, "error");
    return;
  }
  follow(current);
}

async function stopRun() {
  if (!view) return;
  try {
    await api("client", `/v1/runs/${encodeURIComponent(view.runId)}/stop`, { method: "POST", body: {} });
  } catch (error) {
    showConnection(`stop: ${error.message}`, "error");
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const adminInput = document.getElementById("admin-token");
  const clientInput = document.getElementById("client-token");
  adminInput.value = tokens.admin;
  clientInput.value = tokens.client;
  document.getElementById("tokens").addEventListener("submit", (event) => {
    event.preventDefault();
    tokens.admin = adminInput.value.trim();
    tokens.client = clientInput.value.trim();
    sessionStorage.setItem("aw.adminToken", tokens.admin);
    sessionStorage.setItem("aw.clientToken", tokens.client);
    sessionStorage.setItem("aw.connected", "yes");
    startRefreshing();
    if (view) openRun(view.runId);
  });
  document.getElementById("stop-run").addEventListener("click", stopRun);
  // Nothing is asked of the host before the operator has said which tokens to use (none,
  // for a host without tokens): a first visit would only collect 401 answers.
  if (sessionStorage.getItem("aw.connected")) startRefreshing();
  else showConnection("enter the tokens (none for a host without tokens) and Connect", "");
});
