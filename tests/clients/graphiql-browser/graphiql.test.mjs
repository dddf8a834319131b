// GraphiQL at GET /graphql in Debian's headless Chromium with every request to another host
// blocked: the page must load from the binary alone and be ready without a token (schema and
// docs loaded, no error, the Headers editor holding an Authorization template, the hint whole at
// 1280, 1024 and 768 px), then take a token in its Headers editor and run a createCaptchaStage
// mutation typed into its editor. Screenshots go to a temporary folder, printed as a diagnostic.
import assert from "node:assert/strict";
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
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
const HEADERS_TEMPLATE = { Authorization: "Bearer <paste your token>" };
const WIDTHS = [1280, 1024, 768];
const SHOTS = mkdtempSync(join(tmpdir(), "graphiql-shots-"));

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

const HEADERS_EDITOR = ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror";

/**
 * GET /graphql in a context of its own `width` px wide, every request to another host blocked.
 * Answers the page, GraphiQL's first introspection response, and `close`, which closes the
 * context and asserts that nothing was asked of another host, no request failed and no script
 * threw.
 */
async function openPlayground(width) {
  const context = await browser.newContext({ viewport: { width, height: 800 } });
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

  const introspection = page.waitForResponse(
    (r) => r.request().method() === "POST" && r.request().postData()?.includes("__schema"),
  );
  const response = await page.goto(`${service.origin}/graphql`);
  assert.equal(response.status(), 200);
  assert.equal(await page.title(), "stages-api GraphQL");
  await page.locator(".graphiql-container").waitFor();
  await page.locator(".graphiql-query-editor .CodeMirror").waitFor();

  const close = async () => {
    await context.close();
    assert.deepEqual(foreign, [], "no request to another host was even attempted");
    assert.deepEqual(failed, [], "no request failed");
    assert.deepEqual(pageErrors, [], "no script error on the page");
  };
  return { page, introspection: await introspection, close };
}

/** Every string that the page's localStorage holds, keys and values. */
function storedText(page) {
  return page.evaluate(() => JSON.stringify(Object.entries(localStorage)));
}

test("the assets are the binary's, with content types and a cache header", async () => {
  const pageResponse = await fetch(`${service.origin}/graphql`);
  assert.equal(pageResponse.status, 200);
  assert.match(pageResponse.headers.get("content-type"), /^text\/html/);
  const html = await pageResponse.text();
  assert.match(html, /<title>stages-api GraphQL<\/title>/);
  // What the page loads: its scripts and styles (the hint's link to the SDL is not loaded).
  const links = [...html.matchAll(/<(?:script|link)\b[^>]*\b(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
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
  // Every other link on the page is the service's own and answers.
  for (const [, href] of html.matchAll(/<a\b[^>]*\bhref="([^"]+)"/g)) {
    assert.match(href, /^\/[^/]/, href);
    assert.equal((await fetch(`${service.origin}${href}`)).status, 200, href);
  }
});

test("GraphiQL is ready on load without a token, its hint whole at 1280, 1024 and 768 px", async (t) => {
  for (const width of WIDTHS) {
    const at = `${width} px`;
    const { page, introspection, close } = await openPlayground(width);

    // GraphiQL introspects on load with the template in its Headers: the schema needs no token.
    assert.equal(introspection.status(), 200, at);
    const introspected = await introspection.json();
    assert.equal(introspected.errors, undefined, `${at}: ${JSON.stringify(introspected.errors)}`);
    assert.equal(introspected.data.__schema.queryType.name, "Query", at);
    assert.equal(introspected.data.__schema.mutationType.name, "Mutation", at);
    const introspectionHeaders = await introspection.request().allHeaders();
    assert.equal(introspectionHeaders.authorization, HEADERS_TEMPLATE.Authorization, at);

    // The Headers editor is open and holds the Authorization template, wrapped to its width.
    const headers = page.locator(HEADERS_EDITOR);
    assert.ok(await headers.isVisible(), `${at}: the Headers editor is open`);
    const template = await headers.evaluate((el) => el.CodeMirror.getValue());
    assert.deepEqual(JSON.parse(template), HEADERS_TEMPLATE, at);
    const scroll = await headers.evaluate((el) => el.CodeMirror.getScrollInfo());
    assert.ok(scroll.width <= scroll.clientWidth, `${at}: the template fits its editor ${JSON.stringify(scroll)}`);

    // The hint: on screen, whole, not covered, and the page does not scroll sideways.
    const hint = page.locator("#hint");
    assert.ok(await hint.isVisible(), at);
    assert.match(await hint.innerText(), /<paste your token>/, at);
    const layout = await hint.evaluate((el) => {
      const box = (node) => {
        const { left, top, right, bottom } = node.getBoundingClientRect();
        return { left, top, right, bottom };
      };
      const whole = box(el);
      return {
        boxes: [whole, ...[...el.querySelectorAll("*")].map(box)],
        scrollWidth: el.scrollWidth,
        clientWidth: el.clientWidth,
        scrollHeight: el.scrollHeight,
        clientHeight: el.clientHeight,
        onTop: el.contains(document.elementFromPoint((whole.left + whole.right) / 2, (whole.top + whole.bottom) / 2)),
        pageWidth: document.documentElement.scrollWidth,
        viewport: { width: innerWidth, height: innerHeight },
      };
    });
    const { viewport } = layout;
    for (const box of layout.boxes) {
      assert.ok(
        box.left >= 0 && box.top >= 0 && box.right <= viewport.width && box.bottom <= viewport.height,
        `${at}: ${JSON.stringify(box)} is inside the ${viewport.width}x${viewport.height} viewport`,
      );
    }
    assert.ok(layout.scrollWidth <= layout.clientWidth, `${at}: the hint is not clipped sideways`);
    assert.ok(layout.scrollHeight <= layout.clientHeight, `${at}: the hint is not clipped below`);
    assert.ok(layout.onTop, `${at}: nothing covers the hint`);
    assert.ok(layout.pageWidth <= viewport.width, `${at}: the page does not scroll sideways`);

    // What a person sees on load, then with the documentation explorer open.
    const shots = [join(SHOTS, `graphiql-load-${width}.png`), join(SHOTS, `graphiql-docs-${width}.png`)];
    await page.screenshot({ path: shots[0] });

    // The documentation explorer shows the root types: the schema is loaded.
    await page.getByRole("button", { name: "Show Documentation Explorer" }).click();
    const docs = page.locator(".graphiql-doc-explorer");
    await docs.getByText("Query", { exact: true }).waitFor();
    await docs.getByText("Mutation", { exact: true }).waitFor();

    // No error anywhere: the result pane is empty (a failed schema fetch would show there).
    assert.equal(await editorText(page, ".graphiql-response"), "", at);
    assert.doesNotMatch(await page.locator("body").innerText(), /UNAUTHENTICATED|Error fetching/i, at);

    await page.screenshot({ path: shots[1] });
    for (const shot of shots) assert.ok(statSync(shot).size > 1000, `${shot} has content`);
    await close();
  }
  t.diagnostic(`screenshots: ${SHOTS}`);
});

test("a token that an earlier page saved in localStorage is forgotten on load", async () => {
  const { page, close } = await openPlayground(1280);
  const leaked = `Bearer leaked-${Date.now().toString(36)}`;
  await page.evaluate((authorization) => {
    const headers = JSON.stringify({ Authorization: authorization });
    localStorage.setItem("graphiql:headers", headers);
    const query = "query Stages { captchaStages { pagination { count } } }";
    const tab = { id: "t1", title: "Stages", query, variables: null, headers, operationName: "Stages", response: null };
    localStorage.setItem("graphiql:tabState", JSON.stringify({ activeTabIndex: 0, tabs: [tab] }));
    const item = { query, variables: null, headers, operationName: "Stages" };
    localStorage.setItem("graphiql:queries", JSON.stringify({ queries: [item] }));
    localStorage.setItem("graphiql:favorites", JSON.stringify({ favorites: [{ ...item, favorite: true }] }));
  }, leaked);
  await page.reload();
  await page.locator(HEADERS_EDITOR).waitFor();
  const headers = await page.locator(HEADERS_EDITOR).evaluate((el) => el.CodeMirror.getValue());
  assert.deepEqual(JSON.parse(headers), HEADERS_TEMPLATE);
  const stored = await storedText(page);
  assert.doesNotMatch(stored, /leaked-/);
  // The history is still there, its headers the template.
  const history = await page.evaluate(() => JSON.parse(localStorage.getItem("graphiql:queries")));
  assert.equal(history.queries.length, 1);
  assert.deepEqual(JSON.parse(history.queries[0].headers), HEADERS_TEMPLATE);
  await close();
});

test("GraphiQL runs createCaptchaStage offline with the token from its Headers editor", async (t) => {
  const { page, close } = await openPlayground(1280);

  // The token, typed over the template in the Headers editor.
  await page.getByRole("button", { name: "Headers", exact: true }).click();
  const headersEditor = page.locator(HEADERS_EDITOR);
  await headersEditor.click();
  await page.keyboard.press("ControlOrMeta+A");
  await page.keyboard.press("Backspace");
  await page.keyboard.type(`{"Authorization": "Bearer ${service.token}"}`);
  const headersText = await headersEditor.evaluate((el) => el.CodeMirror.getValue());
  assert.deepEqual(JSON.parse(headersText), { Authorization: `Bearer ${service.token}` });

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

  // GraphiQL keeps its history and (after a debounce) its tabs in localStorage: the mutation,
  // never the token.
  await page.waitForFunction(() =>
    ["graphiql:tabState", "graphiql:queries"].every((key) => localStorage.getItem(key)?.includes("createCaptchaStage")),
  );
  assert.ok(!(await storedText(page)).includes(service.token), "the token is not in localStorage");

  const shot = join(SHOTS, "graphiql-mutation.png");
  await page.screenshot({ path: shot });
  t.diagnostic(`screenshot: ${shot}`);
  await close();

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
