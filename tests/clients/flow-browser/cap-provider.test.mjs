// The offline Cap provider, end to end: its assets and API from Node, then the real
// @cap.js/widget in Debian's headless Chromium, embedded in a page of another origin, with every
// request to another host blocked. Tokens the widget gets are checked through siteverify.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";

import { startCapProvider } from "./cap-provider.mjs";

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
const SITE_KEY = "flow-site-key";
const SECRET = "flow-secret";
// A solve on a slow 2-core machine, from the click to the `solve` event, stays well under this.
const SOLVE_BUDGET_MS = 10_000;

let provider;
let site; // the page that embeds the widget, on another port (another origin)
let browser;

/** Serves the embedding pages: `/` has a visible widget in a form, `/bare` only the script. */
function startSite(provider) {
  const pages = {
    "/": `<!doctype html>
<html><head><meta charset="utf-8"><title>flow</title><link rel="icon" href="data:,">
<script src="${provider.jsUrl}"></script></head>
<body>
<form id="form" action="/submit" method="post">
  <cap-widget id="cap" data-cap-api-endpoint="${provider.endpoint}"></cap-widget>
  <button type="submit">Continue</button>
</form>
<script>
  window.capEvents = [];
  const widget = document.getElementById("cap");
  // The click on the trigger inside the shadow root reaches the host (composed).
  widget.addEventListener("click", () => { window.capClickedAt ??= performance.now(); }, true);
  widget.addEventListener("progress", (e) => capEvents.push(["progress", e.detail.progress]));
  widget.addEventListener("error", (e) => capEvents.push(["error", e.detail]));
  widget.addEventListener("solve", (e) => {
    capEvents.push(["solve", e.detail.token]);
    window.capSolved = { token: e.detail.token, at: performance.now() };
  });
</script>
</body></html>`,
    "/bare": `<!doctype html>
<html><head><meta charset="utf-8"><title>bare</title><link rel="icon" href="data:,">
<script src="${provider.jsUrl}"></script></head>
<body><p>Invisible captcha</p>
<cap-widget id="hidden-cap" style="display:none" data-cap-api-endpoint="${provider.endpoint}"></cap-widget>
</body></html>`,
  };
  const server = createServer((req, res) => {
    const page = req.method === "GET" ? pages[new URL(req.url, "http://x").pathname] : undefined;
    if (page === undefined) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
      return;
    }
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(page);
  });
  return new Promise((ok) =>
    server.listen(0, "127.0.0.1", () => {
      const origin = `http://127.0.0.1:${server.address().port}`;
      ok({
        origin,
        close: () =>
          new Promise((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    }),
  );
}

function isLocal(rawUrl) {
  const url = new URL(rawUrl);
  if (url.protocol === "data:") return true;
  // blob:http://127.0.0.1:PORT/uuid: the widget's Worker script, made in the page.
  const inner = url.protocol === "blob:" ? new URL(url.pathname) : url;
  return inner.protocol === "http:" && inner.hostname === "127.0.0.1";
}

/** A fresh page in its own context, with every non-local request aborted and recorded. */
async function openPage(path) {
  const context = await browser.newContext({ viewport: { width: 800, height: 600 } });
  const watch = { aborted: [], foreign: [], failed: [], pageErrors: [], consoleProblems: [], workers: [], providerHits: [] };
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (isLocal(url)) return route.continue();
    watch.aborted.push(url);
    return route.abort("blockedbyclient");
  });
  // Everything asked for, also what never reached the route.
  context.on("request", (request) => {
    const url = request.url();
    if (!isLocal(url)) watch.foreign.push(url);
    if (url.startsWith(`${provider.url}/`)) {
      watch.providerHits.push(`${request.method()} ${new URL(url).pathname}`);
    }
  });
  context.on("requestfailed", (request) => watch.failed.push(request.url()));
  context.on("response", (r) => r.status() >= 400 && watch.failed.push(`${r.status()} ${r.url()}`));
  const page = await context.newPage();
  page.on("pageerror", (error) => watch.pageErrors.push(error.message));
  // Errors and warnings from the page and from the widget's workers (e.g. "[cap worker] no wasm
  // module provided, falling back to JS solver" would be one).
  const onConsole = (message) => {
    if (message.type() === "error" || message.type() === "warning") watch.consoleProblems.push(message.text());
  };
  page.on("console", onConsole);
  page.on("worker", (worker) => {
    watch.workers.push(worker.url());
    worker.on("console", onConsole);
  });
  const response = await page.goto(`${site.origin}${path}`);
  assert.equal(response.status(), 200);
  return { context, page, watch };
}

function assertOffline(watch) {
  assert.deepEqual(watch.aborted, [], "no request to another host was attempted");
  assert.deepEqual(watch.foreign, [], "no request to another host was even made");
  assert.deepEqual(watch.failed, [], "no request failed");
  assert.deepEqual(watch.pageErrors, [], "no script error on the page");
  assert.deepEqual(watch.consoleProblems, [], "no error or warning logged, by the page or a worker");
  assert.ok(watch.workers.length > 0, "the widget solved in Web Workers");
  for (const worker of watch.workers) assert.ok(worker.startsWith(`blob:${site.origin}/`), worker);
}

function siteverifyForm(fields) {
  return fetch(provider.apiUrl, { method: "POST", body: new URLSearchParams(fields) }).then((r) => r.json());
}

function siteverifyJson(fields) {
  return fetch(provider.apiUrl, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(fields),
  }).then((r) => r.json());
}

function assertSuccess(result) {
  assert.deepEqual(Object.keys(result).sort(), ["challenge_ts", "hostname", "success"]);
  assert.equal(result.success, true);
  assert.equal(result.hostname, "127.0.0.1");
  assert.match(result.challenge_ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  assert.ok(Math.abs(Date.parse(result.challenge_ts) - Date.now()) < 5 * 60_000, result.challenge_ts);
}

before(async () => {
  provider = await startCapProvider({ siteKey: SITE_KEY, secret: SECRET });
  site = await startSite(provider);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_ARGS,
  });
});

after(async () => {
  await browser?.close();
  await site?.close();
  await provider?.close();
});

test("the provider serves Cap Standalone's layout: assets, widget API with CORS, 404s", async () => {
  assert.equal(provider.jsUrl, `${provider.url}/assets/widget.js`);
  assert.equal(provider.apiUrl, `${provider.url}/${SITE_KEY}/siteverify`);
  assert.equal(provider.endpoint, new URL(`/${SITE_KEY}/`, provider.jsUrl).href);
  assert.match(provider.url, /^http:\/\/127\.0\.0\.1:\d+$/);

  const js = await fetch(provider.jsUrl);
  assert.equal(js.status, 200);
  assert.match(js.headers.get("content-type"), /^text\/javascript/);
  const source = await js.text();
  const [firstLine] = source.split("\n");
  assert.equal(firstLine, `window.CAP_CUSTOM_WASM_URL = ${JSON.stringify(`${provider.url}/assets/cap_wasm_bg.wasm`)};`);
  assert.match(source, /customElements\.define\("cap-widget"/);

  const wasm = await fetch(`${provider.url}/assets/cap_wasm_bg.wasm`);
  assert.equal(wasm.status, 200);
  assert.equal(wasm.headers.get("content-type"), "application/wasm");
  const module = await WebAssembly.compile(await wasm.arrayBuffer());
  // What the widget's inlined wasm-bindgen glue expects of the module.
  assert.deepEqual(WebAssembly.Module.imports(module).map((i) => `${i.module}.${i.name}`),
    ["wbg.__wbindgen_init_externref_table"]);
  assert.ok(WebAssembly.Module.exports(module).some((e) => e.name === "solve_pow"));

  const glue = await fetch(`${provider.url}/assets/cap_wasm.js`);
  assert.equal(glue.status, 200);
  assert.match(glue.headers.get("content-type"), /^text\/javascript/);
  await glue.arrayBuffer();

  // The redeem request (JSON) from another origin is preflighted.
  const preflight = await fetch(`${provider.endpoint}redeem`, {
    method: "OPTIONS",
    headers: {
      origin: site.origin,
      "access-control-request-method": "POST",
      "access-control-request-headers": "content-type",
    },
  });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get("access-control-allow-origin"), "*");
  assert.match(preflight.headers.get("access-control-allow-methods"), /POST/);
  assert.match(preflight.headers.get("access-control-allow-headers"), /content-type/i);

  const challenge = await fetch(`${provider.endpoint}challenge`, { method: "POST", headers: { origin: site.origin } });
  assert.equal(challenge.status, 200);
  assert.equal(challenge.headers.get("access-control-allow-origin"), "*");
  const body = await challenge.json();
  assert.deepEqual(body.challenge, { c: 8, s: 32, d: 2 }, "a small proof of work");
  assert.match(body.token, /^[0-9a-f]{50}$/);
  assert.ok(body.expires > Date.now());

  const wrongSolution = await fetch(`${provider.endpoint}redeem`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token: body.token, solutions: Array(8).fill(0) }),
  });
  assert.equal(wrongSolution.status, 403);
  assert.equal((await wrongSolution.json()).success, false);

  for (const [method, path, status] of [
    ["GET", "/assets/nothing.js", 404],
    ["POST", "/other-key/challenge", 404],
    ["POST", "/other-key/siteverify", 404],
    ["GET", `/${SITE_KEY}/challenge`, 405],
    ["GET", "/", 404],
  ]) {
    const response = await fetch(`${provider.url}${path}`, { method });
    assert.equal(response.status, status, `${method} ${path}`);
    await response.arrayBuffer();
  }
});

test("a person clicks the widget on another origin's page; the token passes siteverify once", async (t) => {
  const first = provider.requests.length;
  const { context, page, watch } = await openPage("/");
  assert.equal(await page.evaluate(() => typeof customElements.get("cap-widget")), "function");
  assert.equal(await page.evaluate(() => window.CAP_CUSTOM_WASM_URL), `${provider.url}/assets/cap_wasm_bg.wasm`);

  const trigger = page.getByRole("button", { name: "Click to verify you're a human" });
  await trigger.waitFor();
  await page.getByText("Verify you're human").waitFor();
  await trigger.click();
  await page.waitForFunction(() => window.capSolved || window.capEvents.some(([k]) => k === "error"),
    null, { timeout: 30_000 });
  const { token, elapsed, events, formToken } = await page.evaluate(() => ({
    token: window.capSolved?.token,
    elapsed: window.capSolved && window.capSolved.at - window.capClickedAt,
    events: window.capEvents,
    formToken: new FormData(document.getElementById("form")).get("cap-token"),
  }));
  assert.ok(token, `no solve event: ${JSON.stringify(events)}`);
  t.diagnostic(`click -> solve event: ${Math.round(elapsed)} ms`);
  assert.ok(elapsed < SOLVE_BUDGET_MS, `solving took ${elapsed} ms`);
  assert.match(token, /^[0-9a-f]{16}:[0-9a-f]{30}$/);
  assert.equal(formToken, token, "the widget puts the token in its form as cap-token");
  assert.equal(await page.evaluate(() => document.getElementById("cap").token), token);
  await page.getByText("You're a human").waitFor();
  assert.ok(events.some(([k, v]) => k === "progress" && v === 100), JSON.stringify(events));
  // The screenshot goes to a temporary folder, never into the repository.
  const shots = mkdtempSync(join(tmpdir(), "cap-widget-shot-"));
  try {
    await page.screenshot({ path: join(shots, "widget-solved.png") });
    assert.ok(statSync(join(shots, "widget-solved.png")).size > 0);
  } finally {
    rmSync(shots, { recursive: true, force: true });
  }

  // What the page fetched from the provider: the script, the wasm, the challenge and redeem.
  assert.deepEqual([...new Set(watch.providerHits)].sort(), [
    "GET /assets/cap_wasm_bg.wasm",
    "GET /assets/widget.js",
    `POST /${SITE_KEY}/challenge`,
    `POST /${SITE_KEY}/redeem`,
  ]);
  await context.close();
  assertOffline(watch);

  // The service's side: siteverify, form-encoded as reCAPTCHA/hCaptcha/Turnstile clients post it.
  assertSuccess(await siteverifyForm({ secret: SECRET, response: token, remoteip: "127.0.0.1" }));
  assert.deepEqual(await siteverifyForm({ secret: SECRET, response: token }),
    { success: false, "error-codes": ["invalid-input-response"] }, "a token is single-use");
  assert.deepEqual(await siteverifyForm({ secret: "wrong", response: token }),
    { success: false, "error-codes": ["invalid-input-secret"] });
  assert.deepEqual(await siteverifyForm({ secret: SECRET }),
    { success: false, "error-codes": ["missing-input-response"] });
  assert.deepEqual(await siteverifyForm({ secret: SECRET, response: "" }),
    { success: false, "error-codes": ["missing-input-response"] });

  const seen = provider.requests.slice(first);
  assert.equal(seen.length, 5);
  for (const request of seen) {
    assert.equal(request.method, "POST");
    assert.equal(request.path, `/${SITE_KEY}/siteverify`);
    assert.match(request.contentType, /^application\/x-www-form-urlencoded/);
  }
  assert.deepEqual(seen[0].fields, { secret: SECRET, response: token, remoteip: "127.0.0.1" });
  assert.deepEqual(seen[3].fields, { secret: SECRET });
  assert.equal(seen[0].response.success, true);
  assert.equal(seen[1].response.success, false);
});

test("an invisible, programmatic solve: new Cap({ apiEndpoint }).solve() and widget.solve()", async (t) => {
  const first = provider.requests.length;
  const { context, page, watch } = await openPage("/bare");
  // No person: no click, no mouse move. The programmatic API makes a hidden <cap-widget>.
  const viaCap = await page.evaluate(async (apiEndpoint) => {
    const cap = new window.Cap({ apiEndpoint });
    const display = getComputedStyle(cap.widget).display;
    const t0 = performance.now();
    const result = await cap.solve();
    return { ...result, display, property: cap.token, ms: performance.now() - t0 };
  }, provider.endpoint);
  t.diagnostic(`new Cap().solve(): ${Math.round(viaCap.ms)} ms`);
  assert.equal(viaCap.success, true);
  assert.equal(viaCap.display, "none", "the programmatic widget is hidden");
  assert.equal(viaCap.property, viaCap.token);
  assert.ok(viaCap.ms < SOLVE_BUDGET_MS, `solving took ${viaCap.ms} ms`);

  // A <cap-widget> the page keeps hidden, solved by calling its solve() (with a solve event too).
  const viaElement = await page.evaluate(async () => {
    const widget = document.getElementById("hidden-cap");
    const event = new Promise((ok) => widget.addEventListener("solve", (e) => ok(e.detail.token), { once: true }));
    const t0 = performance.now();
    const result = await widget.solve();
    return { ...result, eventToken: await event, ms: performance.now() - t0 };
  });
  t.diagnostic(`hidden <cap-widget>.solve(): ${Math.round(viaElement.ms)} ms`);
  assert.equal(viaElement.success, true);
  assert.equal(viaElement.eventToken, viaElement.token);
  assert.notEqual(viaElement.token, viaCap.token);
  await context.close();
  assertOffline(watch);

  // A wrong secret never spends a token; JSON bodies work as well as forms.
  assert.deepEqual(await siteverifyJson({ secret: "wrong", response: viaCap.token }),
    { success: false, "error-codes": ["invalid-input-secret"] });
  assertSuccess(await siteverifyJson({ secret: SECRET, response: viaCap.token }));
  assert.deepEqual(await siteverifyJson({ secret: SECRET, response: viaCap.token }),
    { success: false, "error-codes": ["invalid-input-response"] });
  assertSuccess(await siteverifyForm({ secret: SECRET, response: viaElement.token }));

  const seen = provider.requests.slice(first);
  assert.equal(seen.length, 4);
  assert.match(seen[0].contentType, /^application\/json/);
  assert.deepEqual(seen[0].fields, { secret: "wrong", response: viaCap.token });
  assert.match(seen[3].contentType, /^application\/x-www-form-urlencoded/);
});

test("siteverify answers with the providers' error codes", async () => {
  const first = provider.requests.length;
  assert.deepEqual(await siteverifyForm({ secret: SECRET, response: "not-a-token" }),
    { success: false, "error-codes": ["invalid-input-response"] });
  assert.deepEqual(await siteverifyForm({ secret: SECRET, response: "0123456789abcdef:0123456789abcdef0123456789abcd" }),
    { success: false, "error-codes": ["invalid-input-response"] });
  assert.deepEqual(await siteverifyForm({ response: "x" }),
    { success: false, "error-codes": ["missing-input-secret"] });
  assert.deepEqual(await siteverifyForm({}),
    { success: false, "error-codes": ["missing-input-secret", "missing-input-response"] });
  assert.deepEqual(await siteverifyForm({ secret: "wrong" }),
    { success: false, "error-codes": ["invalid-input-secret", "missing-input-response"] });

  const badJson = await fetch(provider.apiUrl, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{nope",
  });
  assert.equal(badJson.status, 400);
  assert.deepEqual(await badJson.json(), { success: false, "error-codes": ["bad-request"] });
  const get = await fetch(`${provider.apiUrl}?secret=${SECRET}`);
  assert.equal(get.status, 405);
  assert.deepEqual(await get.json(), { success: false, "error-codes": ["bad-request"] });

  // A token solved in Node (no browser), as a flow test that skips the widget would get one.
  const token = await provider.issueToken();
  assertSuccess(await siteverifyForm({ secret: SECRET, response: token }));
  assert.deepEqual(await siteverifyForm({ secret: SECRET, response: token }),
    { success: false, "error-codes": ["invalid-input-response"] });

  const seen = provider.requests.slice(first);
  assert.equal(seen.length, 9);
  assert.equal(seen[5].fields, null, "an unparsable body is recorded with its raw text");
  assert.equal(seen[5].body, "{nope");
  assert.equal(seen[6].method, "GET");
});
