// The flow page (`GET /if/flow/{slug}/`) end to end: the real stages-api binary (fresh SQLite
// file, free port), two offline Cap providers (cap-provider.mjs), and Debian's headless Chromium
// driven by playwright-core with every request to a host other than 127.0.0.1 aborted. The flows
// are made through the REST API; a person clicks the visible widget, the invisible one solves by
// itself, the service checks each token with its provider's siteverify, and the page follows the
// flow to its redirect. Refusals: `retry` shows authentik's message in place, `restart` sends the
// browser back to the first stage.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";

import { startCapProvider } from "./cap-provider.mjs";

const repoRoot = resolve(import.meta.dirname, "..", "..", "..");
const binary = process.env.STAGES_API_BIN ?? join(repoRoot, "target", "debug", "stages-api");

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
// Waits only: generous for a slow 2-core machine. Nothing here asserts how long anything took.
const WAIT = { timeout: 90_000 };
const TEST = { timeout: 300_000 };

const VISIBLE = { siteKey: "signup-visible", secret: `visible-${randomBytes(12).toString("hex")}` };
const INVISIBLE = { siteKey: "signup-invisible", secret: `invisible-${randomBytes(12).toString("hex")}` };
const WRONG_SECRET = "not-the-provider-secret";
const TRIGGER = "Click to verify you're a human";
const TOKEN = /^[0-9a-f]{16}:[0-9a-f]{30}$/;

let workdir;
let server;
let origin;
let bootstrapToken;
let visible; // the provider of the interactive stage
let invisible; // the provider of the invisible stage
let browser;
let failed = false;
/** The stages made in before(): the interactive and the invisible one. */
const stages = {};

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

const serverLog = () => {
  try {
    return readFileSync(join(workdir, "server.log"), "utf8");
  } catch {
    return "";
  }
};

async function startServer() {
  assert.ok(existsSync(binary), `${binary} is missing: build it with \`cargo build --bins\` first`);
  const port = await freePort();
  origin = `http://127.0.0.1:${port}`;
  bootstrapToken = randomBytes(32).toString("base64url");
  const logFd = openSync(join(workdir, "server.log"), "w");
  server = spawn(binary, ["serve"], {
    cwd: workdir,
    env: {
      ...process.env,
      DATABASE_URL: `sqlite://${join(workdir, "stages.db")}?mode=rwc`,
      LISTEN_ADDR: `127.0.0.1:${port}`,
      BOOTSTRAP_TOKEN: bootstrapToken,
    },
    stdio: ["ignore", logFd, logFd],
  });
  closeSync(logFd);
  // Bounded wait for readiness (start runs the migrations); not an assertion on time.
  for (let i = 0; ; i++) {
    if (server.exitCode !== null || server.signalCode !== null) {
      throw new Error(`stages-api exited (${server.exitCode ?? server.signalCode}):\n${serverLog()}`);
    }
    try {
      const r = await fetch(`${origin}/-/health/ready/`);
      await r.arrayBuffer();
      if (r.status === 200) return;
    } catch {
      // not listening yet
    }
    if (i >= 600) throw new Error(`stages-api did not become ready:\n${serverLog()}`);
    await sleep(100);
  }
}

async function stopServer() {
  if (!server || server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise((ok) => server.once("exit", ok));
  server.kill("SIGTERM");
  const stopped = await Promise.race([exited.then(() => true), sleep(15_000).then(() => false)]);
  if (!stopped) {
    server.kill("SIGKILL");
    await exited;
  }
}

// Whatever happens to this process, the server does not outlive it.
process.on("exit", () => {
  if (server && server.exitCode === null && server.signalCode === null) server.kill("SIGKILL");
});

/** A REST call with the bootstrap token; the parsed body of the expected status. */
async function api(method, path, body, expected) {
  const response = await fetch(`${origin}/api/v3${path}`, {
    method,
    headers: {
      authorization: `Bearer ${bootstrapToken}`,
      accept: "application/json",
      ...(body ? { "content-type": "application/json" } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  assert.equal(response.status, expected, `${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

function createStage(name, provider, { secret = provider.secret, interactive }) {
  return api("POST", "/stages/captcha/", {
    name,
    public_key: provider.siteKey,
    private_key: secret,
    js_url: provider.jsUrl,
    api_url: provider.apiUrl,
    interactive,
  }, 201);
}

function createFlow(slug, title) {
  return api("POST", "/flows/instances/", { name: `Flow ${slug}`, slug, title, designation: "enrollment" }, 201);
}

async function bind(flow, stage, order, invalidResponseAction) {
  const binding = await api("POST", "/flows/bindings/", {
    target: flow.pk,
    stage: stage.pk,
    order,
    invalid_response_action: invalidResponseAction,
  }, 201);
  assert.equal(binding.target, flow.pk);
  assert.equal(binding.stage, stage.pk);
  assert.equal(binding.order, order);
  assert.equal(binding.invalid_response_action, invalidResponseAction);
  return binding;
}

function isLocal(rawUrl) {
  const url = new URL(rawUrl);
  if (url.protocol === "data:" || url.href === "about:blank") return true;
  // blob:http://127.0.0.1:PORT/uuid: the widget's Worker script, made in the page.
  const inner = url.protocol === "blob:" ? new URL(url.pathname) : url;
  return inner.protocol === "http:" && inner.hostname === "127.0.0.1";
}

/**
 * Opens the flow page in a fresh context (its own cookies: a new session), every non-local
 * request aborted and recorded, and what the page did with the executor and the providers kept.
 */
async function openFlow(slug, query = "?next=%2Fwelcome%2F") {
  const context = await browser.newContext({ viewport: { width: 800, height: 600 }, locale: "en-US" });
  const watch = {
    aborted: [],
    foreign: [],
    pageErrors: [],
    console: [],
    executor: [], // { method, status, body } of every executor response
    providerHits: [],
    navigations: [],
    failed: [], // requests that failed, and answers of 400 or more: "404 /path"
  };
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (isLocal(url)) return route.continue();
    watch.aborted.push(url);
    return route.abort("blockedbyclient");
  });
  context.on("request", (request) => {
    const url = request.url();
    if (!isLocal(url)) watch.foreign.push(url);
    for (const p of [visible, invisible]) {
      if (url.startsWith(`${p.url}/`)) watch.providerHits.push(`${p.siteKey} ${request.method()} ${new URL(url).pathname}`);
    }
  });
  context.on("requestfailed", (request) => watch.failed.push(`failed ${request.url()}`));
  context.on("response", async (response) => {
    const request = response.request();
    if (response.status() >= 400) watch.failed.push(`${response.status()} ${new URL(response.url()).pathname}`);
    if (!request.url().startsWith(`${origin}/api/v3/flows/executor/`)) return;
    const entry = { method: request.method(), status: response.status(), sent: request.postData(), body: null };
    watch.executor.push(entry);
    if (response.status() === 200) entry.body = await response.json().catch(() => null);
  });
  const page = await context.newPage();
  page.on("pageerror", (error) => watch.pageErrors.push(error.message));
  // Errors and warnings from the page and from the widgets' workers (e.g. "[cap worker] no wasm
  // module provided, falling back to JS solver" would be one).
  const onConsole = (message) => {
    if (message.type() === "error" || message.type() === "warning") watch.console.push(message.text());
  };
  page.on("console", onConsole);
  page.on("worker", (worker) => worker.on("console", onConsole));
  page.on("framenavigated", (frame) => {
    if (frame === page.mainFrame()) watch.navigations.push(frame.url());
  });
  const url = `${origin}/if/flow/${slug}/${query}`;
  const response = await page.goto(url);
  assert.equal(response.status(), 200);
  assert.match(response.headers()["content-type"], /^text\/html/);
  return { context, page, watch, url };
}

/** Nothing left 127.0.0.1, nothing failed but what was expected, and the page threw nothing. */
function assertOffline(watch, expectedFailures = []) {
  assert.deepEqual(watch.failed, expectedFailures, "no other request failed");
  assert.deepEqual(watch.aborted, [], "no request to another host was attempted");
  assert.deepEqual(watch.foreign, [], "no request to another host was even made");
  assert.deepEqual(watch.pageErrors, [], "no uncaught script error on the page");
  // The only warning expected: the second provider's widget.js finds <cap-widget> defined.
  const unexpected = watch.console.filter(
    (text) => !/cap-widget custom element already defined/.test(text)
      // Chromium logs the expected 404s (the flow's end, /welcome/, is no page of this service).
      && !(expectedFailures.length && /^Failed to load resource: the server responded with a status of 404/.test(text)),
  );
  assert.deepEqual(unexpected, [], "no unexpected error or warning logged");
}

/** The visible widget the page put in #stage (one at a time). */
function stageWidget(page) {
  return page.locator("#stage .captcha[data-provider='cap'] cap-widget");
}

async function clickWidget(page) {
  const trigger = page.locator("#stage").getByRole("button", { name: TRIGGER });
  await trigger.waitFor(WAIT);
  await trigger.click();
}

/** The executor's current challenge for the page's session (a GET changes nothing). */
function currentChallenge(page) {
  return page.evaluate(async () => {
    const query = encodeURIComponent(location.search.slice(1));
    const slug = location.pathname.split("/")[3];
    const response = await fetch(`/api/v3/flows/executor/${slug}/?query=${query}`);
    return response.json();
  });
}

function assertSiteverify(record, provider, secret, outcome) {
  assert.equal(record.method, "POST");
  assert.equal(record.path, `/${provider.siteKey}/siteverify`);
  assert.match(record.contentType, /^application\/x-www-form-urlencoded/, "form-encoded, as authentik posts it");
  assert.deepEqual(Object.keys(record.fields).sort(), ["remoteip", "response", "secret"]);
  assert.equal(record.fields.secret, secret);
  assert.match(record.fields.response, TOKEN);
  assert.equal(record.fields.remoteip, "127.0.0.1");
  assert.deepEqual(
    outcome === "passed" ? record.response.success : record.response,
    outcome === "passed" ? true : { success: false, "error-codes": [outcome] },
  );
}

/** A test that marks the run failed (the server's log is printed then) and always closes its context. */
function scenario(name, fn) {
  test(name, TEST, async (t) => {
    const opened = [];
    const open = async (...args) => {
      const result = await openFlow(...args);
      opened.push(result.context);
      return result;
    };
    try {
      await fn(t, open);
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      for (const context of opened) await context.close().catch(() => {});
    }
  });
}

before(async () => {
  try {
    workdir = mkdtempSync(join(tmpdir(), "stages-api-flow-browser-"));
    await startServer();
    visible = await startCapProvider(VISIBLE);
    invisible = await startCapProvider(INVISIBLE);
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
      headless: true,
      args: CHROMIUM_ARGS,
    });
    stages.visible = await createStage("signup-visible", visible, { interactive: true });
    stages.invisible = await createStage("signup-invisible", invisible, { interactive: false });
    assert.equal(stages.visible.interactive, true);
    assert.equal(stages.invisible.interactive, false);
    assert.equal(stages.visible.js_url, visible.jsUrl);
    assert.equal(stages.invisible.api_url, invisible.apiUrl);
    assert.equal(stages.visible.private_key, undefined, "the private key is write-only");
  } catch (error) {
    failed = true;
    throw error;
  }
});

after(async () => {
  await browser?.close().catch(() => {});
  await visible?.close();
  await invisible?.close();
  await stopServer();
  if (failed) process.stderr.write(`--- stages-api log ---\n${serverLog().slice(-20_000)}\n`);
  if (workdir) rmSync(workdir, { recursive: true, force: true });
});

scenario("signup: a person clicks the visible Cap, the invisible one solves itself, the page ends at next", async (t, open) => {
  const flow = await createFlow("signup", "Join us");
  assert.equal(flow.designation, "enrollment");
  await bind(flow, stages.visible, 10, "retry");
  await bind(flow, stages.invisible, 20, "retry");
  const before = { visible: visible.requests.length, invisible: invisible.requests.length };

  const { page, watch } = await open("signup");
  const widget = stageWidget(page);
  await widget.waitFor(WAIT);
  assert.equal(await widget.getAttribute("data-cap-api-endpoint"), visible.endpoint);
  await page.locator("#stage").getByRole("button", { name: TRIGGER }).waitFor(WAIT);
  await page.getByText("Verify you're human").waitFor(WAIT);

  // The flow's title, on the page and as the document's.
  assert.equal(await page.locator("#title").textContent(), "Join us");
  assert.equal(await page.title(), "Join us");
  assert.equal(await page.locator("#error").textContent(), "");

  // The captcha page as a person sees it.
  const shots = mkdtempSync(join(tmpdir(), "flow-page-shot-"));
  try {
    const shot = join(shots, "captcha.png");
    const png = await page.screenshot({ path: shot, fullPage: true });
    assert.ok(statSync(shot).size > 1000, "the screenshot has content");
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], "a PNG");
    t.diagnostic(`screenshot: ${statSync(shot).size} bytes`);
    if (process.env.FLOW_SHOT_DIR) await page.screenshot({ path: join(process.env.FLOW_SHOT_DIR, "captcha.png") });
  } finally {
    rmSync(shots, { recursive: true, force: true });
  }
  assert.equal(visible.requests.length, before.visible, "nothing verified before the click");

  await clickWidget(page);
  await page.waitForURL(`${origin}/welcome/`, WAIT);
  assert.equal(new URL(page.url()).pathname, "/welcome/");

  // Each provider's siteverify: exactly one form-encoded request, with its secret and a token.
  const seenVisible = visible.requests.slice(before.visible);
  const seenInvisible = invisible.requests.slice(before.invisible);
  assert.equal(seenVisible.length, 1, JSON.stringify(seenVisible));
  assert.equal(seenInvisible.length, 1, JSON.stringify(seenInvisible));
  assertSiteverify(seenVisible[0], visible, VISIBLE.secret, "passed");
  assertSiteverify(seenInvisible[0], invisible, INVISIBLE.secret, "passed");
  assert.notEqual(seenVisible[0].fields.response, seenInvisible[0].fields.response);

  // What the page said to the executor: the first challenge, a response to each stage (the
  // first answered with a 302 to the next stage, which fetch followed), then the redirect.
  const trail = watch.executor.map((e) => `${e.method} ${e.status}`);
  assert.deepEqual(trail, ["GET 200", "POST 302", "GET 200", "POST 200"], JSON.stringify(watch.executor));
  const [first, , second, last] = watch.executor;
  assert.equal(first.body.component, "ak-stage-captcha");
  assert.equal(first.body.site_key, visible.siteKey);
  assert.equal(first.body.interactive, true);
  assert.equal(first.body.flow_info.title, "Join us");
  assert.equal(second.body.site_key, invisible.siteKey);
  assert.equal(second.body.js_url, invisible.jsUrl);
  assert.equal(second.body.interactive, false);
  assert.deepEqual(JSON.parse(watch.executor[1].sent), { component: "ak-stage-captcha", token: seenVisible[0].fields.response });
  assert.deepEqual(JSON.parse(last.sent), { component: "ak-stage-captcha", token: seenInvisible[0].fields.response });
  // The redirect challenge itself: its body is gone from the browser when the page followed it
  // before Playwright read it; the navigation to its `to` above is the proof either way.
  if (last.body !== null) assert.deepEqual(last.body, { component: "xak-flow-redirect", to: "/welcome/" });

  // Both widgets really ran against their own provider.
  for (const p of [visible, invisible]) {
    for (const hit of ["GET /assets/widget.js", "GET /assets/cap_wasm_bg.wasm", `POST /${p.siteKey}/challenge`, `POST /${p.siteKey}/redeem`]) {
      assert.ok(watch.providerHits.includes(`${p.siteKey} ${hit}`), `${p.siteKey} ${hit}: ${watch.providerHits}`);
    }
  }
  assert.deepEqual(watch.navigations, [`${origin}/if/flow/signup/?next=%2Fwelcome%2F`, `${origin}/welcome/`]);
  assertOffline(watch, ["404 /welcome/"]);
});

scenario("retry: a refused token shows authentik's message in place; the page stays", async (t, open) => {
  const stage = await createStage("retry-wrong-secret", visible, { secret: WRONG_SECRET, interactive: true });
  const flow = await createFlow("signup-retry", "Try again");
  await bind(flow, stage, 10, "retry");
  const first = visible.requests.length;

  const { page, watch, url } = await open("signup-retry");
  await stageWidget(page).waitFor(WAIT);
  for (let attempt = 1; attempt <= 2; attempt++) {
    // Marks the widget shown now, to tell the one the page shows after the refusal.
    await stageWidget(page).evaluate((el, n) => { el.dataset.attempt = String(n); }, attempt);
    await clickWidget(page);
    await page.locator("#error").getByText("Invalid captcha response", { exact: true }).waitFor(WAIT);
    // The same stage again, in a fresh widget that waits for a person.
    await page.locator("#stage cap-widget:not([data-attempt])").waitFor(WAIT);
    await page.locator("#stage").getByRole("button", { name: TRIGGER }).waitFor(WAIT);
    assert.equal(await page.locator("#error").textContent(), "Invalid captcha response");
    assert.equal(await stageWidget(page).getAttribute("data-cap-api-endpoint"), visible.endpoint);
    assert.equal(page.url(), url, "the page did not navigate");

    const seen = visible.requests.slice(first);
    assert.equal(seen.length, attempt);
    assertSiteverify(seen[attempt - 1], visible, WRONG_SECRET, "invalid-input-secret");
    const answer = watch.executor.at(-1);
    assert.equal(`${answer.method} ${answer.status}`, "POST 200");
    assert.equal(answer.body.component, "ak-stage-captcha");
    assert.deepEqual(answer.body.response_errors, { token: [{ string: "Invalid captcha response", code: "invalid" }] });
  }
  if (process.env.FLOW_SHOT_DIR) await page.screenshot({ path: join(process.env.FLOW_SHOT_DIR, "retry.png") });
  assert.equal(await page.locator("#title").textContent(), "Try again");
  const current = await currentChallenge(page);
  assert.equal(current.component, "ak-stage-captcha");
  assert.equal(current.site_key, visible.siteKey);
  assert.equal(current.response_errors, undefined);
  assert.deepEqual(watch.navigations, [url], "one navigation: the page itself");
  assertOffline(watch);
});

scenario("restart: a refusal at the second stage starts the flow over at the first", async (t, open) => {
  const refusing = await createStage("restart-wrong-secret", invisible, { secret: WRONG_SECRET, interactive: false });
  const flow = await createFlow("signup-restart", "Start over");
  await bind(flow, stages.visible, 10, "retry");
  await bind(flow, refusing, 20, "restart");
  const before = { visible: visible.requests.length, invisible: invisible.requests.length };

  const { page, watch, url } = await open("signup-restart");
  await stageWidget(page).waitFor(WAIT);
  await stageWidget(page).evaluate((el) => { el.dataset.first = "1"; });
  await clickWidget(page);
  // The first stage passes, the invisible second is refused, and the flow begins again: the
  // first stage's widget, a new one, waiting for a person.
  await page.locator("#stage cap-widget:not([data-first])").waitFor(WAIT);
  await page.locator("#stage").getByRole("button", { name: TRIGGER }).waitFor(WAIT);
  assert.equal(await stageWidget(page).getAttribute("data-cap-api-endpoint"), visible.endpoint);
  assert.equal(await page.locator("#error").textContent(), "", "a restart shows no message");
  assert.equal(page.url(), url);

  const seenVisible = visible.requests.slice(before.visible);
  const seenInvisible = invisible.requests.slice(before.invisible);
  assert.equal(seenVisible.length, 1);
  assert.equal(seenInvisible.length, 1);
  assertSiteverify(seenVisible[0], visible, VISIBLE.secret, "passed");
  assertSiteverify(seenInvisible[0], invisible, WRONG_SECRET, "invalid-input-secret");

  const trail = watch.executor.map((e) => `${e.method} ${e.status}`);
  assert.deepEqual(trail, ["GET 200", "POST 302", "GET 200", "POST 302", "GET 200"], JSON.stringify(watch.executor));
  assert.equal(watch.executor[2].body.site_key, invisible.siteKey);
  const restarted = watch.executor[4].body;
  assert.equal(restarted.component, "ak-stage-captcha");
  assert.equal(restarted.site_key, visible.siteKey, "back at the first stage");
  assert.equal(restarted.response_errors, undefined);
  const current = await currentChallenge(page);
  assert.equal(current.site_key, visible.siteKey);
  assert.deepEqual(watch.navigations, [url]);
  assertOffline(watch);
});
