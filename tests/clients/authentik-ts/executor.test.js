// Conformance: authentik's generated TypeScript client (@goauthentik/api 2025.10.4, unchanged),
// FlowsApi.flowsExecutorGet / flowsExecutorSolve, against the real stages-api binary (server.js)
// whose captcha stages call a scripted siteverify peer: a node http server in this file that
// answers as each test says and records the forms it receives.
//
// The client runs on a fetch that behaves as a browser does: it keeps the session cookie and
// follows the executor's 302s itself (recording them), so that every answer the client parses
// is the final challenge. Each answer is checked as the client reads it (ChallengeTypesFromJSON:
// the right model for its component, instanceOf<Model>(), typed fields, enum members) and
// against the raw JSON: authentik's keys in order, and <Model>ToJSON(parsed) giving the raw
// body back.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';

import {
  AccessDeniedChallengeToJSON,
  CaptchaChallengeToJSON,
  Configuration,
  ContextualFlowInfoLayoutEnum,
  FlowsApi,
  ResponseError,
  StagesApi,
  instanceOfAccessDeniedChallenge,
  instanceOfCaptchaChallenge,
  instanceOfContextualFlowInfo,
  instanceOfErrorDetail,
  instanceOfRedirectChallenge,
  RedirectChallengeToJSON,
} from '@goauthentik/api/dist/esm/index.js';

import { startServer } from './server.js';

const AVATAR = '/static/dist/assets/images/user_default.png';
const DEFAULT_BACKGROUND = '/static/dist/assets/images/flow_background.jpg';
const FAILED = 'Failed to validate token';
const INVALID = 'Invalid captcha response';
const INVALID_RETRY = 'Invalid captcha response. Retrying may solve this issue.';
const SECRET_MARK = 'ts-exec-secret-';
const TOKEN_MARK = 'ts-exec-token-';
const CAPTCHA_KEYS = ['flow_info', 'component', 'pending_user', 'pending_user_avatar', 'site_key', 'js_url', 'interactive'];
const CAPTCHA_ERROR_KEYS = ['flow_info', 'component', 'response_errors', 'pending_user', 'pending_user_avatar', 'site_key', 'js_url', 'interactive'];
const DENIED_KEYS = ['flow_info', 'component', 'pending_user', 'pending_user_avatar', 'error_message'];
const FLOW_INFO_KEYS = ['title', 'background', 'cancel_url', 'layout'];

// --- the scripted siteverify peer -----------------------------------------------------------------

const peer = {
  server: null,
  url: '',
  calls: [],
  // What the next calls get: {status, body} (body an object is sent as JSON), or 'hang'.
  reply: { status: 200, body: { success: true } },
  take() {
    const calls = this.calls;
    this.calls = [];
    return calls;
  },
};

function startPeer() {
  peer.server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      peer.calls.push({
        path: req.url,
        contentType: req.headers['content-type'],
        form: Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString())),
      });
      const { reply } = peer;
      if (reply === 'hang') return; // never answered: the server's siteverify timeout ends it
      const json = typeof reply.body === 'object';
      res.writeHead(reply.status, { 'content-type': json ? 'application/json' : 'text/html' });
      res.end(json ? JSON.stringify(reply.body) : reply.body);
    });
  });
  return new Promise((ok) => {
    peer.server.listen(0, '127.0.0.1', () => {
      peer.url = `http://127.0.0.1:${peer.server.address().port}/siteverify`;
      ok();
    });
  });
}

// --- a browser for the client: cookie jar and 302s followed --------------------------------------

class Browser {
  constructor(query) {
    this.query = query;
    this.cookie = null;
    this.hops = [];
    this.raw = null;
    this.flows = new FlowsApi(new Configuration({
      basePath: server.basePath,
      fetchApi: (url, init) => this.fetch(url, init),
    }));
  }

  async fetch(url, init) {
    let request = { ...init, headers: { ...(init.headers ?? {}) }, redirect: 'manual' };
    for (;;) {
      if (this.cookie) request.headers.cookie = `authentik_session=${this.cookie}`;
      const response = await fetch(url, request);
      const setCookie = response.headers.get('set-cookie');
      if (setCookie) {
        assert.match(setCookie, /^authentik_session=[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Lax; Path=\/$/);
        this.cookie = setCookie.split(';')[0].split('=')[1];
      }
      if (response.status !== 302) {
        this.raw = await response.clone().text();
        assert.ok(!this.raw.includes(SECRET_MARK) && !this.raw.includes(TOKEN_MARK), this.raw);
        assert.ok(response.status < 500, this.raw);
        return response;
      }
      const location = response.headers.get('location');
      this.hops.push(location);
      url = new URL(location, url).toString();
      request = { method: 'GET', headers: {}, redirect: 'manual' };
    }
  }

  get(flowSlug) {
    return this.flows.flowsExecutorGet({ flowSlug, query: this.query });
  }

  solve(flowSlug, token) {
    return this.flows.flowsExecutorSolve({
      flowSlug,
      query: this.query,
      flowChallengeResponseRequest: { component: 'ak-stage-captcha', token },
    });
  }

  // The executor's GET with this page's query, as the 302s name it.
  executorPath(flowSlug) {
    return `/api/v3/flows/executor/${flowSlug}/?${new URLSearchParams({ query: this.query })}`;
  }
}

// --- checks on what the client parsed -----------------------------------------------------------

function plain(value) {
  return JSON.parse(JSON.stringify(value));
}

function rawKeys(browser) {
  const raw = JSON.parse(browser.raw);
  return { raw, keys: Object.keys(raw) };
}

function checkFlowInfo(info, slug, query) {
  assert.ok(instanceOfContextualFlowInfo(info));
  assert.equal(info.title, `Title ${slug}`);
  assert.equal(info.background, DEFAULT_BACKGROUND);
  assert.equal(info.cancelUrl, query ? `/flows/-/cancel/?${query}` : '/flows/-/cancel/');
  assert.equal(info.layout, ContextualFlowInfoLayoutEnum.Stacked);
}

function checkCaptcha(browser, challenge, slug, stage, errors = null) {
  assert.equal(challenge.component, 'ak-stage-captcha');
  assert.ok(instanceOfCaptchaChallenge(challenge));
  checkFlowInfo(challenge.flowInfo, slug, browser.query);
  assert.equal(challenge.pendingUser, '');
  assert.equal(challenge.pendingUserAvatar, AVATAR);
  assert.equal(challenge.siteKey, stage.publicKey);
  assert.equal(challenge.jsUrl, stage.jsUrl);
  assert.equal(challenge.interactive, stage.interactive);
  assert.equal(typeof challenge.interactive, 'boolean');
  const { raw, keys } = rawKeys(browser);
  assert.deepEqual(keys, errors ? CAPTCHA_ERROR_KEYS : CAPTCHA_KEYS);
  assert.deepEqual(Object.keys(raw.flow_info), FLOW_INFO_KEYS);
  assert.deepEqual(plain(CaptchaChallengeToJSON(challenge)), raw);
  if (errors) {
    assert.deepEqual(Object.keys(challenge.responseErrors), ['token']);
    for (const detail of challenge.responseErrors.token) assert.ok(instanceOfErrorDetail(detail));
    assert.deepEqual(challenge.responseErrors, { token: [errors] });
  } else {
    assert.equal(challenge.responseErrors, undefined);
  }
}

function checkRedirect(browser, challenge, to) {
  assert.equal(challenge.component, 'xak-flow-redirect');
  assert.ok(instanceOfRedirectChallenge(challenge));
  assert.equal(challenge.to, to);
  const { raw, keys } = rawKeys(browser);
  assert.deepEqual(keys, ['component', 'to']);
  assert.deepEqual(plain(RedirectChallengeToJSON(challenge)), raw);
}

let server;
let stages;
let flows;

async function captchaFlow(slug, bindings, flowFields = {}) {
  const flow = await flows.flowsInstancesCreate({
    flowRequest: { name: `Flow ${slug}`, title: `Title ${slug}`, designation: 'authentication', slug, ...flowFields },
  });
  const created = [];
  for (const [order, [action, fields]] of bindings.entries()) {
    const stage = await stages.stagesCaptchaCreate({
      captchaStageRequest: {
        name: `${slug}-${order}`,
        publicKey: `site-${slug}-${order}`,
        privateKey: `${SECRET_MARK}${slug}-${order}`,
        apiUrl: peer.url,
        jsUrl: `http://127.0.0.1/js/${slug}-${order}.js`,
        ...fields,
      },
    });
    await flows.flowsBindingsCreate({
      flowStageBindingRequest: { target: flow.pk, stage: stage.pk, order: order * 10, invalidResponseAction: action },
    });
    created.push(stage);
  }
  return created;
}

before(async () => {
  await startPeer();
  server = await startServer('stages-api-executor-', { SITEVERIFY_TIMEOUT: '500ms' });
  const config = new Configuration({ basePath: server.basePath, accessToken: server.bootstrapToken });
  stages = new StagesApi(config);
  flows = new FlowsApi(config);
});

after(async () => {
  if (server) await server.stop();
  if (peer.server) {
    peer.server.closeAllConnections();
    await new Promise((ok) => peer.server.close(ok));
  }
});

describe('the flow executor through FlowsApi', () => {
  test('two captcha stages to the redirect', async () => {
    const slug = 'ts-two';
    const [first, second] = await captchaFlow(slug, [['retry', {}], ['retry', { interactive: true }]]);
    const browser = new Browser('next=%2Fapp%2F');
    checkCaptcha(browser, await browser.get(slug), slug, first);
    assert.ok(browser.cookie);

    peer.reply = { status: 200, body: { success: true, hostname: 'localhost' } };
    const next = await browser.solve(slug, `${TOKEN_MARK}one`);
    assert.deepEqual(browser.hops, [browser.executorPath(slug)]);
    checkCaptcha(browser, next, slug, second);
    const [call] = peer.take();
    assert.equal(call.contentType, 'application/x-www-form-urlencoded');
    assert.deepEqual(call.form, { secret: `${SECRET_MARK}${slug}-0`, response: `${TOKEN_MARK}one`, remoteip: '127.0.0.1' });

    checkRedirect(browser, await browser.solve(slug, `${TOKEN_MARK}two`), '/app/');
    assert.equal(peer.take()[0].form.secret, `${SECRET_MARK}${slug}-1`);
  });

  test('refused and failed tokens: the challenge with authentik\'s message', async () => {
    const slug = 'ts-refused';
    const [stage] = await captchaFlow(slug, [['retry', {}]]);
    const browser = new Browser('');
    await browser.get(slug);
    for (const [reply, message] of [
      [{ status: 200, body: { success: false, 'error-codes': ['timeout-or-duplicate'] } }, INVALID_RETRY],
      [{ status: 200, body: { success: false, 'error-codes': ['invalid-input-secret'] } }, INVALID],
      [{ status: 200, body: { success: true, score: 0.1 } }, INVALID],
      [{ status: 500, body: { success: true } }, FAILED],
      [{ status: 200, body: '<html>ok</html>' }, FAILED],
      ['hang', FAILED],
    ]) {
      peer.reply = reply;
      const challenge = await browser.solve(slug, `${TOKEN_MARK}x`);
      checkCaptcha(browser, challenge, slug, stage, { string: message, code: 'invalid' });
      assert.equal(peer.take().length, 1);
    }
    peer.reply = { status: 200, body: { success: true } };
    const missing = await browser.flows.flowsExecutorSolve({
      flowSlug: slug,
      query: '',
      flowChallengeResponseRequest: { component: 'ak-stage-captcha' },
    });
    checkCaptcha(browser, missing, slug, stage, { string: 'This field is required.', code: 'required' });
    assert.deepEqual(peer.take(), []);
    checkRedirect(browser, await browser.solve(slug, `${TOKEN_MARK}ok`), '/');
  });

  test('restart sends the browser back to the first stage', async () => {
    const slug = 'ts-restart';
    const [first, second] = await captchaFlow(slug, [['retry', {}], ['restart', {}]]);
    const browser = new Browser('next=%2Fr%2F');
    await browser.get(slug);
    peer.reply = { status: 200, body: { success: true } };
    checkCaptcha(browser, await browser.solve(slug, `${TOKEN_MARK}a`), slug, second);
    peer.reply = { status: 200, body: { success: false, 'error-codes': ['invalid-input-response'] } };
    browser.hops = [];
    checkCaptcha(browser, await browser.solve(slug, `${TOKEN_MARK}b`), slug, first);
    assert.deepEqual(browser.hops, [browser.executorPath(slug)]);
    peer.take();
  });

  test('an empty flow, a flow that does not apply, an unknown flow', async () => {
    await flows.flowsInstancesCreate({
      flowRequest: { name: 'Empty', title: 'Title ts-empty', designation: 'authentication', slug: 'ts-empty' },
    });
    const browser = new Browser('next=%2Fwelcome%2F');
    checkRedirect(browser, await browser.get('ts-empty'), '/welcome/');

    await flows.flowsInstancesCreate({
      flowRequest: {
        name: 'Members', title: 'Title ts-members', designation: 'authentication', slug: 'ts-members',
        authentication: 'require_authenticated', deniedAction: 'message',
      },
    });
    const denied = await browser.get('ts-members');
    assert.equal(denied.component, 'ak-stage-access-denied');
    assert.ok(instanceOfAccessDeniedChallenge(denied));
    checkFlowInfo(denied.flowInfo, 'ts-members', browser.query);
    assert.equal(denied.errorMessage, 'Flow does not apply to current user.');
    assert.equal(denied.pendingUser, '');
    assert.equal(denied.pendingUserAvatar, AVATAR);
    const { raw, keys } = rawKeys(browser);
    assert.deepEqual(keys, DENIED_KEYS);
    assert.deepEqual(plain(AccessDeniedChallengeToJSON(denied)), raw);

    try {
      await browser.get('ts-nowhere');
      assert.fail('an unknown flow was answered');
    } catch (err) {
      assert.ok(err instanceof ResponseError, `${err}`);
      assert.equal(err.response.status, 404);
      assert.deepEqual(await err.response.json(), { detail: 'No Flow matches the given query.' });
    }
    assert.deepEqual(peer.take(), []);
  });
});
