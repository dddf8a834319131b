// GraphiQL at GET /graphql in Debian's headless Chromium with every request to another host
// blocked: the page must load from the binary alone, take an Authorization header in its
// Headers editor, and run a createCaptchaStage mutation typed into its editor.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { join } from "node:path";
import { chromium } from "playwright-core";

import { startService } from "./server.mjs";

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
const SCREENSHOT = join(import.meta.dirname, "graphiql.png");

let service;
let browser;

before(async () => {
  service = await startService();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_ARGS,
  });
});

after(async () => {
  await browser?.close();
  await service?.stop();
});

/** The text of the CodeMirror 5 editor inside `selector`. */
function editorText(page, selector) {
  return page.locator(`${selector} .CodeMirror`).first().evaluate((el) => el.CodeMirror.getValue());
}

test("the assets are the binary's, with content types and a cache header", async () => {
  const pageResponse = await fetch(`${service.origin}/graphql`);
  assert.equal(pageResponse.status, 200);
  assert.match(pageResponse.headers.get("content-type"), /^text\/html/);
  const html = await pageResponse.text();
  assert.match(html, /<title>stages-api GraphQL<\/title>/);
  const links = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
  // The favicon is an inline `data:,`: no request at all.
  const assets = links.filter((link) => link !== "data:,");
  assert.ok(assets.length >= 4, `assets: ${assets}`);
  for (const asset of assets) {
    assert.match(asset, /^\/graphql\/assets\//, "the page links only to its own assets");
    const response = await fetch(`${service.origin}${asset}`);
    assert.equal(response.status, 200, asset);
    const type = asset.endsWith(".css") ? /^text\/css/ : /^text\/javascript/;
    assert.match(response.headers.get("content-type"), type, asset);
    assert.match(response.headers.get("cache-control") ?? "", /max-age=\d+/, asset);
    assert.ok((await response.arrayBuffer()).byteLength > 1000, asset);
  }
  assert.equal((await fetch(`${service.origin}/graphql/assets/nothing.js`)).status, 404);
});

test("GraphiQL runs createCaptchaStage offline with the token from its Headers editor", async () => {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  const foreign = [];
  const failed = [];
  await page.route("**/*", (route) => {
    const url = new URL(route.request().url());
    if (url.protocol === "http:" && url.host === service.host) return route.continue();
    foreign.push(route.request().url());
    return route.abort("blockedbyclient");
  });
  // Everything the page asked for, also what never reached the route (e.g. a blocked scheme).
  page.on("request", (request) => {
    const url = request.url();
    if (!url.startsWith("data:") && new URL(url).host !== service.host) foreign.push(url);
  });
  page.on("requestfailed", (request) => failed.push(request.url()));
  page.on("response", (r) => r.status() >= 400 && failed.push(`${r.status()} ${r.url()}`));
  const pageErrors = [];
  page.on("pageerror", (error) => pageErrors.push(error.message));

  const response = await page.goto(`${service.origin}/graphql`);
  assert.equal(response.status(), 200);
  assert.equal(await page.title(), "stages-api GraphQL");
  await page.locator(".graphiql-container").waitFor();
  await page.locator(".graphiql-query-editor .CodeMirror").waitFor();

  // The token, typed into the Headers editor.
  await page.getByRole("button", { name: "Headers", exact: true }).click();
  const headersEditor = page.locator(".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror");
  await headersEditor.click();
  await page.keyboard.press("ControlOrMeta+A");
  await page.keyboard.press("Backspace");
  await page.keyboard.type(`{"Authorization": "Bearer ${service.token}"}`);
  const headersText = await headersEditor.evaluate((el) => el.CodeMirror.getValue());
  assert.deepEqual(JSON.parse(headersText), { Authorization: `Bearer ${service.token}` });

  // GraphiQL takes an edit into its tab state after a short debounce, and only then does
  // "Re-fetch GraphQL schema" see it: wait until the tab state it persists has the token.
  await page.waitForFunction((authorization) => {
    const state = JSON.parse(localStorage.getItem("graphiql:tabState") ?? "null");
    return state?.tabs[state.activeTabIndex]?.headers?.includes(authorization);
  }, `Bearer ${service.token}`);

  // With the token, GraphiQL's own introspection query passes the depth and complexity caps:
  // re-fetch the schema and see its root types in the documentation explorer.
  const [introspection] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === "POST" &&
      r.request().postData()?.includes("__schema")),
    page.getByRole("button", { name: "Re-fetch GraphQL schema" }).click(),
  ]);
  const introspected = await introspection.json();
  assert.equal(introspected.errors, undefined, JSON.stringify(introspected.errors));
  assert.equal(introspected.data.__schema.mutationType.name, "Mutation");
  await page.getByRole("button", { name: "Show Documentation Explorer" }).click();
  const docs = page.locator(".graphiql-doc-explorer");
  await docs.getByText("Mutation", { exact: true }).waitFor();
  await docs.getByText("Query", { exact: true }).waitFor();

  // The mutation, typed into the query editor.
  const name = `graphiql-${Date.now().toString(36)}`;
  const mutation =
    `mutation Create { createCaptchaStage(input: {name: "${name}", publicKey: "pub", ` +
    `privateKey: "secret"}) { id name publicKey } }`;
  await page.locator(".graphiql-query-editor .CodeMirror").click();
  await page.keyboard.press("ControlOrMeta+A");
  await page.keyboard.press("Backspace");
  await page.keyboard.type(mutation);
  const typed = await editorText(page, ".graphiql-query-editor");
  assert.equal(typed.replace(/\s+/g, " "), mutation);

  // GraphiQL reads the operation name from the editor 100 ms after an edit (debounced), as a
  // person's pause would let it: wait until it has, or it sends the old name.
  await page.waitForFunction(
    () => document.querySelector(".graphiql-query-editor .CodeMirror").CodeMirror.operationName === "Create",
  );
  await page.getByRole("button", { name: /Prettify query/ }).click();
  assert.match(await editorText(page, ".graphiql-query-editor"), /^mutation Create \{\n  createCaptchaStage\(/);
  const [graphqlRequest] = await Promise.all([
    page.waitForRequest((r) => r.method() === "POST" && r.postData()?.includes("createCaptchaStage")),
    page.getByRole("button", { name: /Execute query/ }).click(),
  ]);
  assert.equal(new URL(graphqlRequest.url()).pathname, "/graphql");
  const sent = await graphqlRequest.allHeaders();
  assert.match(sent["content-type"], /^application\/json/);
  assert.equal(sent.authorization, `Bearer ${service.token}`);
  assert.equal(graphqlRequest.postDataJSON().operationName, "Create");

  // The result pane shows the created stage.
  const resultPane = page.locator(".graphiql-response .result-window");
  await resultPane.getByText(name).first().waitFor();
  const result = JSON.parse(await editorText(page, ".graphiql-response"));
  assert.equal(result.errors, undefined, JSON.stringify(result.errors));
  const stage = result.data.createCaptchaStage;
  assert.equal(stage.name, name);
  assert.equal(stage.publicKey, "pub");

  await page.screenshot({ path: SCREENSHOT });
  await context.close();

  assert.deepEqual(foreign, [], "no request to another host was even attempted");
  assert.deepEqual(failed, [], "no request failed");
  assert.deepEqual(pageErrors, [], "no script error on the page");

  // The stage is there for REST too.
  const rest = await fetch(`${service.origin}/api/v3/stages/captcha/${stage.id}/`, {
    headers: { Authorization: `Bearer ${service.token}` },
  });
  assert.equal(rest.status, 200);
  const body = await rest.json();
  assert.equal(body.pk, stage.id);
  assert.equal(body.name, name);
  const list = await fetch(`${service.origin}/api/v3/stages/captcha/?name=${name}`, {
    headers: { Authorization: `Bearer ${service.token}` },
  });
  assert.equal((await list.json()).pagination.count, 1);
});
