// Conformance: authentik's generated TypeScript client (@goauthentik/api 2025.10.4, unchanged)
// against the real stages-api binary, started by server.js on a free port with a fresh SQLite file.
//
// The package's `main` (dist/index.js) is not in the published tarball, so the bare specifier
// cannot be imported; its build under dist/esm/ is what it really ships (those files are
// CommonJS despite the folder name, and node exposes their named exports to `import`).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

import { Configuration, ResponseError, StagesApi } from '@goauthentik/api/dist/esm/index.js';

import { startServer } from './server.js';

const DEFAULT_BACKGROUND = '/static/dist/assets/images/flow_background.jpg';
const VIEW = 'authentik_stages_captcha.view_captchastage';

let server;
let api;

function client(accessToken) {
  return new StagesApi(new Configuration({ basePath: server.basePath, accessToken }));
}

function createToken(...permissions) {
  return server.createToken(...permissions);
}

// Runs a client call that must fail; returns the ResponseError's status and parsed body.
async function failure(promise) {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ResponseError, `expected ResponseError, got ${err}`);
    return { status: err.response.status, body: await err.response.json(), headers: err.response.headers };
  }
  assert.fail('the call succeeded');
}

function flow(slug, fields = {}) {
  return { name: `Flow ${slug}`, title: `Title ${slug}`, designation: 'authentication', slug, ...fields };
}

before(async () => {
  server = await startServer('stages-api-node-');
  api = client(server.bootstrapToken);
});

after(async () => {
  if (server) await server.stop();
});

describe('captcha stages through @goauthentik/api', () => {
  const tag = randomUUID().slice(0, 8);
  let stage;

  test('create with a flow_set of two flows', async () => {
    const response = await api.stagesCaptchaCreateRaw({
      captchaStageRequest: {
        name: `ts-${tag}`,
        publicKey: 'site-key',
        privateKey: 'ts-secret',
        flowSet: [
          flow(`ts-login-${tag}`, { name: 'Login' }),
          flow(`ts-enroll-${tag}`, {
            name: 'Enroll',
            designation: 'enrollment',
            layout: 'sidebar_right',
            policyEngineMode: 'all',
            compatibilityMode: true,
            deniedAction: 'message',
          }),
        ],
      },
    });
    assert.equal(response.raw.status, 201);
    stage = await response.value();
    assert.match(stage.pk, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(stage.name, `ts-${tag}`);
    assert.equal(stage.component, 'ak-stage-captcha-form');
    assert.equal(stage.verboseName, 'Captcha Stage');
    assert.equal(stage.verboseNamePlural, 'Captcha Stages');
    assert.equal(stage.metaModelName, 'authentik_stages_captcha.captchastage');
    assert.equal(stage.publicKey, 'site-key');
    assert.equal(stage.jsUrl, 'https://www.recaptcha.net/recaptcha/api.js');
    assert.equal(stage.apiUrl, 'https://www.recaptcha.net/recaptcha/api/siteverify');
    assert.equal(stage.interactive, false);
    assert.equal(stage.scoreMinThreshold, 0.5);
    assert.equal(stage.scoreMaxThreshold, 1.0);
    assert.equal(stage.errorOnInvalidScore, true);
    assert.equal('privateKey' in stage, false);

    assert.equal(stage.flowSet.length, 2);
    const bySlug = Object.fromEntries(stage.flowSet.map((f) => [f.slug, f]));
    const login = bySlug[`ts-login-${tag}`];
    assert.deepEqual(
      { ...login, pk: undefined, policybindingmodelPtrId: undefined },
      {
        pk: undefined,
        policybindingmodelPtrId: undefined,
        name: 'Login',
        slug: `ts-login-${tag}`,
        title: `Title ts-login-${tag}`,
        designation: 'authentication',
        background: DEFAULT_BACKGROUND,
        policyEngineMode: 'any',
        compatibilityMode: false,
        exportUrl: `/api/v3/flows/instances/ts-login-${tag}/export/`,
        layout: 'stacked',
        deniedAction: 'message_continue',
      },
    );
    const enroll = bySlug[`ts-enroll-${tag}`];
    assert.equal(enroll.designation, 'enrollment');
    assert.equal(enroll.layout, 'sidebar_right');
    assert.equal(enroll.policyEngineMode, 'all');
    assert.equal(enroll.compatibilityMode, true);
    assert.equal(enroll.deniedAction, 'message');
    assert.equal(enroll.exportUrl, `/api/v3/flows/instances/ts-enroll-${tag}/export/`);
    const ids = [login.pk, login.policybindingmodelPtrId, enroll.pk, enroll.policybindingmodelPtrId];
    assert.equal(new Set(ids).size, 4);
  });

  test('list finds it by name, public_key and search, with the pagination envelope', async () => {
    await api.stagesCaptchaCreate({
      captchaStageRequest: { name: `ts-second-${tag}`, publicKey: 'other-key', privateKey: 's' },
    });
    const byName = await api.stagesCaptchaList({ name: `ts-${tag}` });
    assert.deepEqual(byName.results.map((s) => s.pk), [stage.pk]);
    assert.deepEqual(byName.autocomplete, {});

    const byKey = await api.stagesCaptchaList({ publicKey: 'other-key', search: tag });
    assert.deepEqual(byKey.results.map((s) => s.name), [`ts-second-${tag}`]);

    const paged = await api.stagesCaptchaList({ search: tag.toUpperCase(), ordering: '-name', pageSize: 1 });
    assert.deepEqual(paged.results.map((s) => s.name), [`ts-second-${tag}`]);
    assert.deepEqual(paged.pagination, {
      next: 2, previous: 0, count: 2, current: 1, totalPages: 2, startIndex: 1, endIndex: 1,
    });
    const second = await api.stagesCaptchaList({ search: tag, ordering: '-name', page: 2, pageSize: 1 });
    assert.deepEqual(second.results.map((s) => s.name), [`ts-${tag}`]);
    assert.deepEqual(second.pagination, {
      next: 0, previous: 1, count: 2, current: 2, totalPages: 2, startIndex: 2, endIndex: 2,
    });
  });

  test('retrieve returns what create returned', async () => {
    const got = await api.stagesCaptchaRetrieve({ stageUuid: stage.pk });
    assert.deepEqual(
      { ...got, flowSet: [...got.flowSet].sort((a, b) => a.slug.localeCompare(b.slug)) },
      { ...stage, flowSet: [...stage.flowSet].sort((a, b) => a.slug.localeCompare(b.slug)) },
    );
  });

  test('partial update changes only the given keys and never returns the private key', async () => {
    const response = await api.stagesCaptchaPartialUpdateRaw({
      stageUuid: stage.pk,
      patchedCaptchaStageRequest: { interactive: true, scoreMaxThreshold: 0.8 },
    });
    assert.equal(response.raw.status, 200);
    const text = await response.raw.clone().text();
    assert.equal(JSON.parse(text).private_key, undefined);
    assert.equal(text.includes('ts-secret'), false);
    const patched = await response.value();
    assert.equal(patched.interactive, true);
    assert.equal(patched.scoreMaxThreshold, 0.8);
    assert.equal(patched.scoreMinThreshold, 0.5);
    assert.equal(patched.name, `ts-${tag}`);
    assert.equal(patched.publicKey, 'site-key');
    assert.equal(patched.flowSet.length, 2);
  });

  test('used_by lists each bound flow and its binding', async () => {
    const entries = await api.stagesCaptchaUsedByList({ stageUuid: stage.pk });
    const flows = Object.fromEntries(stage.flowSet.map((f) => [f.slug, f]));
    const login = flows[`ts-login-${tag}`];
    const enroll = flows[`ts-enroll-${tag}`];
    const summary = entries
      .map((e) => [e.app, e.modelName, e.name, e.action].join('|'))
      .sort();
    assert.deepEqual(summary, [
      `authentik_flows|flow|Flow Enroll (ts-enroll-${tag})|cascade_many`,
      `authentik_flows|flow|Flow Login (ts-login-${tag})|cascade_many`,
      `authentik_flows|flowstagebinding|Flow-stage binding #0 to ${enroll.pk}|cascade`,
      `authentik_flows|flowstagebinding|Flow-stage binding #0 to ${login.pk}|cascade`,
    ].sort());
    assert.deepEqual(
      new Set(entries.filter((e) => e.modelName === 'flow').map((e) => e.pk)),
      new Set([login.pk, enroll.pk]),
    );
  });

  test('400: a duplicate name, with the validation body', async () => {
    const { status, body } = await failure(
      api.stagesCaptchaCreate({
        captchaStageRequest: { name: `ts-${tag}`, publicKey: 'p', privateKey: 's' },
      }),
    );
    assert.equal(status, 400);
    assert.deepEqual(body, { name: ['stage with this name already exists.'] });
  });

  test('403: no token, a bad token, and a token lacking the permission', async () => {
    let res = await failure(client(undefined).stagesCaptchaList());
    assert.equal(res.status, 403);
    assert.deepEqual(res.body, { detail: 'Authentication credentials were not provided.' });
    assert.equal(res.headers.get('www-authenticate'), null);

    res = await failure(client(`bad-${randomUUID()}`).stagesCaptchaRetrieve({ stageUuid: stage.pk }));
    assert.equal(res.status, 403);
    assert.deepEqual(res.body, { detail: 'Token invalid/expired' });

    const viewer = client(createToken(VIEW));
    assert.equal((await viewer.stagesCaptchaRetrieve({ stageUuid: stage.pk })).name, `ts-${tag}`);
    res = await failure(viewer.stagesCaptchaDestroy({ stageUuid: stage.pk }));
    assert.equal(res.status, 403);
    assert.deepEqual(res.body, { detail: 'You do not have permission to perform this action.' });
  });

  test('destroy, then retrieve is 404', async () => {
    const response = await api.stagesCaptchaDestroyRaw({ stageUuid: stage.pk });
    assert.equal(response.raw.status, 204);
    assert.equal(await response.raw.text(), '');

    const res = await failure(api.stagesCaptchaRetrieve({ stageUuid: stage.pk }));
    assert.equal(res.status, 404);
    assert.deepEqual(res.body, { detail: 'No CaptchaStage matches the given query.' });
  });

  test('404: a path segment that is not a UUID', async () => {
    // The Python client refuses such an id itself; this client sends it.
    const res = await failure(api.stagesCaptchaRetrieve({ stageUuid: 'not-a-uuid' }));
    assert.equal(res.status, 404);
    assert.deepEqual(res.body, { detail: 'Not found.' });
  });
});
