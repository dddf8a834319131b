// A self-hosted, offline Cap (proof-of-work captcha) provider for browser tests, laid out like Cap
// Standalone:
//
//   GET  /assets/widget.js          window.CAP_CUSTOM_WASM_URL = <own wasm URL>; + @cap.js/widget
//   GET  /assets/cap_wasm_bg.wasm   @cap.js/wasm's browser solver (application/wasm)
//   GET  /assets/cap_wasm.js        @cap.js/wasm's browser glue (the widget does not load it)
//   POST /<siteKey>/challenge       the widget's API, backed by @cap.js/server (in memory)
//   POST /<siteKey>/redeem
//   POST /<siteKey>/siteverify      reCAPTCHA/hCaptcha/Turnstile-compatible verification
//
// Everything is read from node_modules at start: no request ever leaves 127.0.0.1.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);
const Cap = require("@cap.js/server");
const { solve_pow: solvePow } = require("@cap.js/wasm");

const widgetDir = dirname(require.resolve("@cap.js/widget/package.json"));
const wasmDir = join(dirname(require.resolve("@cap.js/wasm/package.json")), "browser");
const WASM_FILE = "cap_wasm_bg.wasm";

function capInstance() {
  // @cap.js/server's constructor hooks process-wide SIGINT/SIGTERM/SIGQUIT (and exits 0 on them)
  // plus beforeExit, once per instance: take those hooks back off so that the test process keeps
  // its own signal handling and several providers do not pile up listeners.
  const events = ["SIGINT", "SIGTERM", "SIGQUIT", "beforeExit"];
  const before = new Map(events.map((e) => [e, new Set(process.listeners(e))]));
  // noFSState: by default it writes .data/tokensList.json under the current directory.
  const cap = new Cap({ noFSState: true });
  for (const event of events) {
    for (const listener of process.listeners(event)) {
      if (!before.get(event).has(listener)) process.removeListener(event, listener);
    }
  }
  return cap;
}

const CORS_HEADERS = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, HEAD, POST, OPTIONS",
  "access-control-max-age": "600",
};

function readBody(req) {
  return new Promise((ok, fail) => {
    const chunks = [];
    let size = 0;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size > 1 << 20) {
        fail(new Error("body too large"));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => ok(Buffer.concat(chunks).toString("utf8")));
    req.on("error", fail);
  });
}

/** Parses a siteverify body the way the providers accept it: form-encoded or JSON. */
function parseFields(contentType, body) {
  const type = (contentType ?? "").split(";")[0].trim().toLowerCase();
  if (type === "application/json" || (!type && body.trimStart().startsWith("{"))) {
    const parsed = JSON.parse(body || "{}");
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw new Error("JSON body is not an object");
    }
    return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, v == null ? v : String(v)]));
  }
  if (type === "application/x-www-form-urlencoded" || !type) {
    return Object.fromEntries(new URLSearchParams(body));
  }
  throw new Error(`unsupported content type ${type}`);
}

/**
 * Starts the provider on 127.0.0.1.
 *
 * @param {object} options
 * @param {string} options.siteKey  the public key: the widget's API lives under /<siteKey>/
 * @param {string} options.secret   the private key siteverify expects as `secret`
 * @param {number} [options.port=0] 0 picks a free port
 * @param {number} [options.challengeCount=8]      proof-of-work puzzles per challenge
 * @param {number} [options.challengeSize=32]      salt length (hex chars)
 * @param {number} [options.challengeDifficulty=2] target prefix length (hex chars): 16^d hashes
 *                                                 on average per puzzle
 * @param {string} [options.hostname="127.0.0.1"]  reported as `hostname` by siteverify
 */
export async function startCapProvider({
  siteKey,
  secret,
  port = 0,
  challengeCount = 8,
  challengeSize = 32,
  challengeDifficulty = 2,
  hostname = "127.0.0.1",
} = {}) {
  if (!siteKey || /[/?#]/.test(siteKey)) throw new Error("siteKey must be a non-empty path segment");
  if (!secret) throw new Error("secret is required");

  const cap = capInstance();
  const challengeConfig = { challengeCount, challengeSize, challengeDifficulty };
  /** token -> when it was redeemed (siteverify's challenge_ts) */
  const issuedAt = new Map();
  /** every siteverify request, in order */
  const requests = [];

  const widgetBundle = readFileSync(join(widgetDir, "cap.min.js"), "utf8");
  const assets = new Map([
    [`/assets/${WASM_FILE}`, { type: "application/wasm", body: readFileSync(join(wasmDir, WASM_FILE)) }],
    ["/assets/cap_wasm.js", { type: "text/javascript; charset=utf-8", body: readFileSync(join(wasmDir, "cap_wasm.js")) }],
  ]);

  let origin; // known once listening: widget.js is built then
  let widgetJs;

  function send(res, status, body, headers = {}) {
    const json = typeof body !== "string" && !Buffer.isBuffer(body);
    const payload = json ? JSON.stringify(body) : body;
    res.writeHead(status, {
      ...CORS_HEADERS,
      "content-type": json ? "application/json" : "text/plain; charset=utf-8",
      "cache-control": "no-store",
      "content-length": Buffer.byteLength(payload),
      ...headers,
    });
    res.end(res.req.method === "HEAD" ? undefined : payload);
  }

  async function siteverify(req, res) {
    const body = await readBody(req);
    const contentType = req.headers["content-type"] ?? null;
    const record = { method: req.method, path: req.url, contentType, body, fields: null, response: null };
    requests.push(record);
    const answer = (status, result) => {
      record.response = result;
      send(res, status, result);
    };
    if (req.method !== "POST") return answer(405, { success: false, "error-codes": ["bad-request"] });
    let fields;
    try {
      fields = parseFields(contentType, body);
    } catch {
      return answer(400, { success: false, "error-codes": ["bad-request"] });
    }
    record.fields = fields;

    const codes = [];
    if (!fields.secret) codes.push("missing-input-secret");
    else if (fields.secret !== secret) codes.push("invalid-input-secret");
    if (!fields.response) codes.push("missing-input-response");
    // A request with a bad secret never spends the token.
    if (codes.length) return answer(200, { success: false, "error-codes": codes });

    const { success } = await cap.validateToken(fields.response); // single use
    if (!success) return answer(200, { success: false, "error-codes": ["invalid-input-response"] });
    const at = issuedAt.get(fields.response) ?? new Date();
    issuedAt.delete(fields.response);
    return answer(200, { success: true, challenge_ts: at.toISOString(), hostname });
  }

  async function handle(req, res) {
    const { pathname } = new URL(req.url, "http://127.0.0.1");
    if (req.method === "OPTIONS") {
      const headers = {
        "access-control-allow-headers": req.headers["access-control-request-headers"] ?? "content-type",
      };
      if (req.headers["access-control-request-private-network"] === "true") {
        headers["access-control-allow-private-network"] = "true";
      }
      res.writeHead(204, { ...CORS_HEADERS, ...headers, "content-length": 0 });
      return res.end();
    }

    if (pathname.startsWith("/assets/")) {
      if (req.method !== "GET" && req.method !== "HEAD") return send(res, 405, "method not allowed");
      if (pathname === "/assets/widget.js") {
        return send(res, 200, widgetJs, { "content-type": "text/javascript; charset=utf-8" });
      }
      const asset = assets.get(pathname);
      if (!asset) return send(res, 404, "not found");
      return send(res, 200, asset.body, { "content-type": asset.type });
    }

    const match = /^\/([^/]+)\/(challenge|redeem|siteverify)$/.exec(pathname);
    if (!match) return send(res, 404, { error: "not found" });
    if (match[1] !== siteKey) return send(res, 404, { success: false, error: "Invalid site key" });
    const action = match[2];
    if (action === "siteverify") return siteverify(req, res);
    if (req.method !== "POST") return send(res, 405, { success: false, error: "Method not allowed" });

    if (action === "challenge") {
      await readBody(req);
      return send(res, 200, await cap.createChallenge(challengeConfig));
    }
    // redeem: { token, solutions } -> { success, token, expires } | { success: false, error }
    let solution;
    try {
      solution = JSON.parse(await readBody(req));
    } catch {
      return send(res, 400, { success: false, error: "Invalid body" });
    }
    const result = await cap.redeemChallenge(solution ?? {});
    if (!result.success) return send(res, 403, { success: false, error: result.message });
    issuedAt.set(result.token, new Date());
    return send(res, 200, result);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error) => {
      if (!res.headersSent) send(res, 500, { success: false, error: String(error?.message ?? error) });
      else res.destroy();
    });
  });
  await new Promise((ok, fail) => {
    server.once("error", fail);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", fail);
      ok();
    });
  });
  origin = `http://127.0.0.1:${server.address().port}`;
  const wasmUrl = `${origin}/assets/${WASM_FILE}`;
  widgetJs =
    `window.CAP_CUSTOM_WASM_URL = ${JSON.stringify(wasmUrl)};\n` +
    `/* @cap.js/widget cap.min.js */\n${widgetBundle}\n`;

  const jsUrl = `${origin}/assets/widget.js`;
  // Cap Standalone's convention: the widget's API endpoint is /<siteKey>/ beside /assets/.
  const endpoint = new URL(`/${siteKey}/`, jsUrl).href;

  return {
    url: origin,
    jsUrl,
    apiUrl: `${origin}/${siteKey}/siteverify`,
    /** what `data-cap-api-endpoint` takes */
    endpoint,
    wasmUrl,
    siteKey,
    secret,
    /** every siteverify request: { method, path, contentType, body, fields, response } */
    requests,
    /** the @cap.js/server instance */
    cap,
    /**
     * A valid, unspent token without a browser: a challenge solved in Node with @cap.js/wasm and
     * redeemed, just as the widget does.
     */
    async issueToken() {
      const { challenge, token } = await cap.createChallenge(challengeConfig);
      const solutions = [];
      for (let i = 1; i <= challenge.c; i++) {
        const salt = prngHex(`${token}${i}`, challenge.s);
        const target = prngHex(`${token}${i}d`, challenge.d);
        solutions.push(Number(solvePow(salt, target)));
      }
      const result = await cap.redeemChallenge({ token, solutions });
      if (!result.success) throw new Error(`redeem failed: ${result.message}`);
      issuedAt.set(result.token, new Date());
      return result.token;
    },
    close() {
      return new Promise((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      });
    },
  };
}

/** The deterministic salt/target generator that @cap.js/server and the widget share. */
function prngHex(seed, length) {
  let hash = 2166136261;
  for (let i = 0; i < seed.length; i++) {
    hash ^= seed.charCodeAt(i);
    hash += (hash << 1) + (hash << 4) + (hash << 7) + (hash << 8) + (hash << 24);
  }
  let state = hash >>> 0;
  let result = "";
  while (result.length < length) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    result += (state >>> 0).toString(16).padStart(8, "0");
  }
  return result.substring(0, length);
}
