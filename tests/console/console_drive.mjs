// Drives the operator console in headless chromium (puppeteer-core) the way an operator
// does, while a chat backend (this script, from outside the page) sends messages to the same
// agent-host. Run by console_browser_test.cpp, which checks the result file against the API.
//
// Environment: AW_URL, AW_ADMIN_TOKEN, AW_CLIENT_TOKEN, AW_PUPPETEER (the puppeteer-core
// package directory), AW_CHROMIUM, AW_ARTIFACTS (screenshots and result.json go there).
// Exit 0 with result.json written; non-zero with the reason on stderr (and a screenshot).
import { createRequire } from "node:module";
import { writeFileSync } from "node:fs";
import path from "node:path";

const require = createRequire(import.meta.url);
const puppeteer = require(process.env.AW_PUPPETEER);
const url = process.env.AW_URL;
const adminToken = process.env.AW_ADMIN_TOKEN;
const clientToken = process.env.AW_CLIENT_TOKEN;
const artifacts = process.env.AW_ARTIFACTS;

const TOOLS_PROMPT = "TOOLS_AND_TODOS: create hello.txt and notes.txt, track the work";
// Text an agent could echo back: the page must show it as text, never as markup.
const HOSTILE = '<img src="x" onerror="window.__pwned = 1"><b id="injected">bold</b>';
const RUN_TIMEOUT = 90_000;

const log = (...parts) => console.error("[console-drive]", ...parts);
const result = { screenshots: [], problems: [], runs: {} };

async function send(sessionId, body) {
  const answer = await fetch(`${url}/v1/sessions/${sessionId}/messages`, {
    method: "POST",
    headers: { Authorization: `Bearer ${clientToken}`, "Content-Type": "application/json" },
    body: JSON.stringify({ provider: "claude-code", ...body }),
  });
  const json = await answer.json();
  if (answer.status !== 202) throw new Error(`message to ${sessionId}: ${answer.status} ${JSON.stringify(json)}`);
  return json.run_id;
}

async function shot(page, name) {
  const file = path.join(artifacts, `${String(result.screenshots.length + 1).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  result.screenshots.push(file);
  log("screenshot", file);
}

// Clicks in the page's own turn: the lists are redrawn every two seconds, so a handle taken
// earlier may be gone by the time a separate click would land.
async function click(page, selector) {
  await page.waitForSelector(selector, { timeout: RUN_TIMEOUT });
  await page.$eval(selector, (element) => element.click());
}

// Opens the run from the runs list once it appears there by itself.
async function openFromList(page, runId) {
  const row = `#runs tbody tr[data-run-id="${runId}"]`;
  await page.waitForSelector(row, { timeout: 15_000 });
  await click(page, row);
  await page.waitForFunction((id) => document.getElementById("run-id").textContent === id, {}, runId);
}

async function outcomeOf(page) {
  await page.waitForSelector("#outcome.completed, #outcome.failed, #outcome.stopped", { timeout: RUN_TIMEOUT });
  return page.$eval("#outcome", (element) => element.textContent);
}

// What the page shows of the open run.
function readRunView(page) {
  return page.evaluate(() => {
    const all = (selector) => [...document.querySelectorAll(selector)];
    return {
      status: document.getElementById("run-status").textContent,
      outcome: document.getElementById("outcome").textContent,
      messages: all("#conversation li.message").map((li) => ({
        kind: li.classList.contains("reasoning") ? "reasoning" : "text",
        text: li.querySelector(".message-text").textContent,
      })),
      tools: all("#conversation li.tool").map((li) => ({
        id: li.dataset.toolCallId,
        name: li.dataset.toolName,
        input: li.querySelector(".tool-input").textContent,
        output: li.querySelector(".tool-output").textContent,
        isError: li.classList.contains("is-error"),
      })),
      todos: all("#todos li").map((li) => ({
        content: li.querySelector("span").textContent,
        status: li.className,
        checked: li.querySelector("input").checked,
      })),
      usage: Object.fromEntries(all("#usage dd").map((dd) => [dd.dataset.usage, dd.textContent])),
      humans: all("#conversation li.human").map((li) => li.textContent),
      notes: all("#conversation li.note").map((li) => li.dataset.type),
      injectedElements: document.querySelectorAll("#conversation img, #conversation b, #injected").length,
      pwned: window.__pwned === 1,
    };
  });
}

const browser = await puppeteer.launch({
  executablePath: process.env.AW_CHROMIUM,
  headless: true,
  userDataDir: path.join(artifacts, "chromium-profile"),
  // The tests run as root, and chromium's own sandbox refuses to start as root. Only this
  // test browser, on a page of our own host on loopback, goes without it.
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
});
let page;
try {
  page = await browser.newPage();
  await page.setViewport({ width: 1600, height: 1100 });
  page.on("pageerror", (error) => result.problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error" && !message.text().includes("aborted")) {
      result.problems.push(`console error: ${message.text()}`);
    }
  });

  // 1. The operator opens the console and enters the tokens.
  await page.goto(`${url}/console`, { waitUntil: "domcontentloaded" });
  await page.type("#admin-token", adminToken);
  await page.type("#client-token", clientToken);
  await click(page, "#connect");
  await page.waitForSelector('#providers tr[data-provider="claude-code"] .status.healthy', { timeout: 30_000 });
  await page.waitForSelector("#connection.ok", { timeout: 10_000 });
  result.providers = await page.$$eval("#providers tbody tr", (rows) => rows.map((row) => ({
    name: row.dataset.provider,
    status: row.querySelector(".status").textContent,
    capabilities: row.children[3].textContent,
  })));
  result.tokenStored = await page.evaluate(() => sessionStorage.getItem("aw.adminToken"));
  await shot(page, "connected");
  // The operator restarts a provider (the host's access log shows the request).
  await click(page, '#providers button.restart[data-provider="codex-cli"]');

  // 2. A chat backend sends a message asking for approvals; it shows up, the operator opens
  //    it and answers each approval request with a click until the run ends.
  const approvalRun = await send("console-chat", { prompt: `${TOOLS_PROMPT} ${HOSTILE}`, approval_mode: "ask" });
  log("approval run", approvalRun);
  await openFromList(page, approvalRun);
  const answered = [];
  for (;;) {
    const next = await page.waitForSelector(
      "#approvals .approval, #outcome.completed, #outcome.failed, #outcome.stopped", { timeout: RUN_TIMEOUT });
    const requestId = await next.evaluate((element) => element.dataset.requestId || "");
    if (!requestId) break;
    if (answered.length === 0) await shot(page, "approval-pending");
    result.approvalCard = result.approvalCard ||
      await page.$eval(`#approvals .approval[data-request-id="${requestId}"]`, (card) => card.textContent);
    await click(page, `#approvals .approval[data-request-id="${requestId}"] button[data-decision="allow"]`);
    await page.waitForFunction((id) => !document.querySelector(`#approvals .approval[data-request-id="${id}"]`),
      { timeout: RUN_TIMEOUT }, requestId);
    answered.push(requestId);
    log("allowed", requestId);
  }
  await outcomeOf(page);
  await shot(page, "approval-run-finished");
  result.runs.approval = { runId: approvalRun, answered, view: await readRunView(page) };

  // 3. The next message of the same session: the agent repeats the earlier prompt, hostile
  //    markup included, which the page must show as text.
  const recallRun = await send("console-chat", { prompt: "RECALL what I asked before" });
  await openFromList(page, recallRun);
  await outcomeOf(page);
  await shot(page, "recall-run");
  result.runs.recall = { runId: recallRun, view: await readRunView(page) };

  // 4. Another session's run waits for approval; the operator stops it instead.
  const stopRun = await send("console-stop", { prompt: TOOLS_PROMPT, approval_mode: "ask" });
  await openFromList(page, stopRun);
  await page.waitForSelector("#approvals .approval", { timeout: RUN_TIMEOUT });
  await click(page, "#stop-run");
  await outcomeOf(page);
  await shot(page, "stopped-run");
  result.runs.stopped = { runId: stopRun, view: await readRunView(page) };

  // 5. The agent asks a question; the operator picks an option and answers.
  const questionRun = await send("console-question", { prompt: "ASKUSER: which greeting?", approval_mode: "ask" });
  await openFromList(page, questionRun);
  await click(page, '#approvals fieldset input[value="bonjour"]');
  await shot(page, "question");
  await click(page, '#approvals button[data-decision="allow"]');
  await outcomeOf(page);
  result.runs.question = { runId: questionRun, view: await readRunView(page) };

  // 6. The lists as they stand now.
  // Once the list has caught up with every run's end (it is redrawn every two seconds).
  await page.waitForFunction((ids) => ids.every((id) =>
    document.querySelector(`#runs tr[data-run-id="${id}"] :is(.status.completed, .status.failed, .status.stopped)`)),
  { timeout: 15_000 }, [approvalRun, recallRun, stopRun, questionRun]);
  result.sessions = await page.$$eval("#sessions tbody tr", (rows) => rows.map((row) => ({
    session: row.dataset.sessionId, status: row.querySelector(".status").textContent, sync: row.children[3].textContent,
    usage: row.children[5].textContent,
  })));
  result.runList = await page.$$eval("#runs tbody tr", (rows) => rows.map((row) => ({
    run: row.dataset.runId, status: row.querySelector(".status").textContent,
  })));
  result.queue = await page.$$eval("#queue tbody tr", (rows) => rows.map((row) => ({
    run: row.children[1].textContent, status: row.querySelector(".status").textContent,
  })));
  await shot(page, "lists");
  writeFileSync(path.join(artifacts, "result.json"), JSON.stringify(result, null, 2));
} catch (error) {
  log("FAILED:", error.stack || error.message);
  if (page) await shot(page, "failure").catch(() => {});
  writeFileSync(path.join(artifacts, "result.json"), JSON.stringify({ ...result, error: String(error.stack || error) }, null, 2));
  process.exitCode = 1;
} finally {
  await browser.close();
}
