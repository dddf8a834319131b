// Conformance: authentik's generated TypeScript client (@goauthentik/api 2025.10.4, unchanged),
// FlowsApi (flowsInstances*, flowsBindings*), against the real stages-api binary (server.js
// starts it on a free port with a fresh SQLite file and stops it by PID in after()).
//
// The client's *FromJSON functions do no validation, so every answer is also checked against the
// client's own models: its keys in authentik's order, instanceOf<Model>() (the required keys),
// each enum value one of the client's enum members, and <Model>ToJSON(<Model>FromJSON(raw))
// giving back the writable keys of the raw body.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

import {
  AuthenticationEnum,
  Configuration,
  DeniedActionEnum,
  FlowDesignationEnum,
  FlowFromJSON,
  FlowLayoutEnum,
  FlowStageBindingFromJSON,
  FlowStageBindingToJSON,
  FlowToJSON,
  FlowsApi,
  InvalidResponseActionEnum,
  PaginatedFlowListFromJSON,
  PaginatedFlowStageBindingListFromJSON,
  PolicyEngineMode,
  ResponseError,
  StageFromJSON,
  StagesApi,
  UsedByActionEnum,
  UsedByFromJSON,
  instanceOfFlow,
  instanceOfFlowStageBinding,
  instanceOfPaginatedFlowList,
  instanceOfPaginatedFlowStageBindingList,
  instanceOfStage,
  instanceOfUsedBy,
} from '@goauthentik/api/dist/esm/index.js';

import { startServer } from './server.js';

const DEFAULT_BACKGROUND = '/static/dist/assets/images/flow_background.jpg';
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const FLOW_KEYS = [
  'pk', 'policybindingmodel_ptr_id', 'name', 'slug', 'title', 'designation', 'background',
  'stages', 'policies', 'cache_count', 'policy_engine_mode', 'compatibility_mode', 'export_url',
  'layout', 'denied_action', 'authentication',
];
const FLOW_WRITABLE = [
  'name', 'slug', 'title', 'designation', 'policy_engine_mode', 'compatibility_mode', 'layout',
  'denied_action', 'authentication',
];
const BINDING_KEYS = [
  'pk', 'policybindingmodel_ptr_id', 'target', 'stage', 'stage_obj', 'evaluate_on_plan',
  're_evaluate_policies', 'order', 'policy_engine_mode', 'invalid_response_action',
];
const BINDING_WRITABLE = [
  'target', 'stage', 'evaluate_on_plan', 're_evaluate_policies', 'order', 'policy_engine_mode',
  'invalid_response_action',
];
const STAGE_KEYS = [
  'pk', 'name', 'component', 'verbose_name', 'verbose_name_plural', 'meta_model_name', 'flow_set',
];
const FLOW_SET_KEYS = [
  'pk', 'policybindingmodel_ptr_id', 'name', 'slug', 'title', 'designation', 'background',
  'policy_engine_mode', 'compatibility_mode', 'export_url', 'layout', 'denied_action',
];
const PAGINATION_KEYS = ['next', 'previous', 'count', 'current', 'total_pages', 'start_index', 'end_index'];
const PERMISSION_DENIED = { detail: 'You do not have permission to perform this action.' };

let server;
let flows;
let stages;

// A value the client's enum lists (its catch-all `UnknownDefaultOpenApi` member excluded).
function assertMember(enumObject, value, what) {
  const members = Object.entries(enumObject)
    .filter(([key]) => key !== 'UnknownDefaultOpenApi')
    .map(([, v]) => v);
  assert.ok(members.includes(value), `${what}: ${JSON.stringify(value)} is not one of ${members}`);
}

function pick(raw, keys) {
  return Object.fromEntries(keys.map((k) => [k, raw[k]]));
}

function checkFlowSet(raw) {
  assert.deepEqual(Object.keys(raw), FLOW_SET_KEYS);
  assert.match(raw.pk, UUID_V4);
  assertMember(FlowDesignationEnum, raw.designation, 'FlowSet.designation');
  assertMember(PolicyEngineMode, raw.policy_engine_mode, 'FlowSet.policy_engine_mode');
  assertMember(FlowLayoutEnum, raw.layout, 'FlowSet.layout');
  assertMember(DeniedActionEnum, raw.denied_action, 'FlowSet.denied_action');
}

function checkFlow(raw) {
  assert.deepEqual(Object.keys(raw), FLOW_KEYS);
  const flow = FlowFromJSON(raw);
  assert.ok(instanceOfFlow(flow));
  assert.match(flow.pk, UUID_V4);
  assert.match(flow.policybindingmodelPtrId, UUID_V4);
  for (const id of flow.stages) assert.match(id, UUID_V4);
  assert.deepEqual(flow.policies, []);
  assert.equal(flow.cacheCount, 0);
  assertMember(FlowDesignationEnum, flow.designation, 'Flow.designation');
  assertMember(PolicyEngineMode, flow.policyEngineMode, 'Flow.policy_engine_mode');
  assertMember(FlowLayoutEnum, flow.layout, 'Flow.layout');
  assertMember(DeniedActionEnum, flow.deniedAction, 'Flow.denied_action');
  assertMember(AuthenticationEnum, flow.authentication, 'Flow.authentication');
  assert.deepEqual(FlowToJSON(flow), pick(raw, FLOW_WRITABLE));
  return flow;
}

function checkStage(raw) {
  assert.deepEqual(Object.keys(raw), STAGE_KEYS);
  const stage = StageFromJSON(raw);
  assert.ok(instanceOfStage(stage));
  raw.flow_set.forEach(checkFlowSet);
  return stage;
}

function checkBinding(raw) {
  assert.deepEqual(Object.keys(raw), BINDING_KEYS);
  const binding = FlowStageBindingFromJSON(raw);
  assert.ok(instanceOfFlowStageBinding(binding));
  assert.match(binding.pk, UUID_V4);
  assert.match(binding.target, UUID_V4);
  assert.match(binding.stage, UUID_V4);
  assert.ok(Number.isInteger(binding.order));
  assertMember(PolicyEngineMode, binding.policyEngineMode, 'FlowStageBinding.policy_engine_mode');
  assertMember(InvalidResponseActionEnum, binding.invalidResponseAction, 'FlowStageBinding.invalid_response_action');
  checkStage(raw.stage_obj);
  assert.deepEqual(FlowStageBindingToJSON(binding), pick(raw, BINDING_WRITABLE));
  return binding;
}

function checkPage(raw, checkItem, fromJSON, instanceOf) {
  assert.deepEqual(Object.keys(raw), ['pagination', 'results', 'autocomplete']);
  assert.deepEqual(Object.keys(raw.pagination), PAGINATION_KEYS);
  assert.deepEqual(raw.autocomplete, {});
  raw.results.forEach(checkItem);
  assert.ok(instanceOf(fromJSON(raw)));
}

function checkUsedBy(raw) {
  assert.ok(Array.isArray(raw));
  for (const entry of raw) {
    assert.deepEqual(Object.keys(entry), ['app', 'model_name', 'pk', 'name', 'action']);
    assert.ok(instanceOfUsedBy(UsedByFromJSON(entry)));
    assertMember(UsedByActionEnum, entry.action, 'UsedBy.action');
  }
}

// Runs a *Raw call: checks the status and the raw body with `check`, and returns the client's
// parsed value, which must equal what the client's FromJSON makes of the raw body.
async function answer(promise, status, check, fromJSON) {
  const response = await promise;
  assert.equal(response.raw.status, status);
  const raw = await response.raw.clone().json();
  check(raw);
  const value = await response.value();
  assert.deepEqual(value, fromJSON(raw));
  return value;
}

// Runs a client call that must fail; returns the ResponseError's status and parsed body.
async function failure(promise) {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ResponseError, `expected ResponseError, got ${err}`);
    return { status: err.response.status, body: await err.response.json() };
  }
  assert.fail('the call succeeded');
}

const flowsClient = (accessToken) => new FlowsApi(new Configuration({ basePath: server.basePath, accessToken }));

function flowRequest(slug, fields = {}) {
  return { name: `Flow ${slug}`, title: `Title ${slug}`, designation: 'authentication', slug, ...fields };
}

async function newFlow(slug, fields = {}) {
  return answer(
    flows.flowsInstancesCreateRaw({ flowRequest: flowRequest(slug, fields) }), 201, checkFlow, FlowFromJSON,
  );
}

async function newStage(name) {
  return stages.stagesCaptchaCreate({
    captchaStageRequest: { name, publicKey: `pub-${name}`, privateKey: 'ts-secret' },
  });
}

async function newBinding(target, stage, order, fields = {}) {
  return answer(
    flows.flowsBindingsCreateRaw({ flowStageBindingRequest: { target, stage, order, ...fields } }),
    201, checkBinding, FlowStageBindingFromJSON,
  );
}

async function listFlows(params) {
  return answer(
    flows.flowsInstancesListRaw(params), 200,
    (raw) => checkPage(raw, checkFlow, PaginatedFlowListFromJSON, instanceOfPaginatedFlowList),
    PaginatedFlowListFromJSON,
  );
}

async function listBindings(params) {
  return answer(
    flows.flowsBindingsListRaw(params), 200,
    (raw) => checkPage(raw, checkBinding, PaginatedFlowStageBindingListFromJSON, instanceOfPaginatedFlowStageBindingList),
    PaginatedFlowStageBindingListFromJSON,
  );
}

before(async () => {
  server = await startServer('stages-api-node-flows-');
  flows = flowsClient(server.bootstrapToken);
  stages = new StagesApi(new Configuration({ basePath: server.basePath, accessToken: server.bootstrapToken }));
});

after(async () => {
  if (server) await server.stop();
});

describe('flows through @goauthentik/api FlowsApi', () => {
  const tag = randomUUID().slice(0, 8);
  let login;

  test('flowsInstancesCreate: 201, defaults, every key', async () => {
    login = await newFlow(`ts-login-${tag}`, { name: `Login ${tag}` });
    assert.equal(login.slug, `ts-login-${tag}`);
    assert.notEqual(login.pk, login.policybindingmodelPtrId);
    assert.equal(login.background, DEFAULT_BACKGROUND);
    assert.deepEqual(login.stages, []);
    assert.equal(login.policyEngineMode, 'any');
    assert.equal(login.compatibilityMode, false);
    assert.equal(login.exportUrl, `/api/v3/flows/instances/ts-login-${tag}/export/`);
    assert.equal(login.layout, 'stacked');
    assert.equal(login.deniedAction, 'message_continue');
    assert.equal(login.authentication, 'none');

    const full = await newFlow(`ts-full-${tag}`, {
      designation: 'recovery',
      policyEngineMode: 'all',
      compatibilityMode: true,
      layout: 'content_left',
      deniedAction: 'continue',
      authentication: 'require_unauthenticated',
    });
    assert.deepEqual(
      [full.designation, full.policyEngineMode, full.compatibilityMode, full.layout, full.deniedAction, full.authentication],
      ['recovery', 'all', true, 'content_left', 'continue', 'require_unauthenticated'],
    );
  });

  test('flowsInstancesRetrieve returns what create returned', async () => {
    const got = await answer(flows.flowsInstancesRetrieveRaw({ slug: login.slug }), 200, checkFlow, FlowFromJSON);
    assert.deepEqual(got, login);
  });

  test('flowsInstancesList: every filter, search, ordering, pages', async () => {
    await newFlow(`ts-enroll-${tag}`, { name: `Enroll ${tag}`, title: 'Sign up here', designation: 'enrollment', deniedAction: 'message' });
    const slugs = (page) => page.results.map((f) => f.slug);
    const login_ = `ts-login-${tag}`;
    const full = `ts-full-${tag}`;
    const enroll = `ts-enroll-${tag}`;

    assert.deepEqual(slugs(await listFlows({ flowUuid: login.pk })), [login_]);
    assert.deepEqual(slugs(await listFlows({ name: `Login ${tag}` })), [login_]);
    assert.deepEqual(slugs(await listFlows({ name: `login ${tag}` })), []);
    assert.deepEqual(slugs(await listFlows({ slug: enroll })), [enroll]);
    assert.deepEqual(slugs(await listFlows({ search: tag, designation: 'enrollment' })), [enroll]);
    assert.deepEqual(slugs(await listFlows({ search: tag, designation: 'recovery' })), [full]);
    assert.deepEqual(slugs(await listFlows({ search: tag, deniedAction: 'message_continue' })), [login_]);
    assert.deepEqual(slugs(await listFlows({ search: tag, deniedAction: 'continue' })), [full]);
    // search: name, slug, designation, title, denied_action; case-insensitive; all terms.
    assert.deepEqual(slugs(await listFlows({ search: `${tag} SIGN` })), [enroll]);
    assert.deepEqual(slugs(await listFlows({ search: `${tag} recov` })), [full]);
    assert.deepEqual(slugs(await listFlows({ search: `${tag} message` })).sort(), [enroll, login_].sort());
    // ordering: default slug; -slug; unknown names dropped.
    assert.deepEqual(slugs(await listFlows({ search: tag })), [enroll, full, login_]);
    assert.deepEqual(slugs(await listFlows({ search: tag, ordering: '-slug' })), [login_, full, enroll]);
    assert.deepEqual(slugs(await listFlows({ search: tag, ordering: 'nonsense' })), [enroll, full, login_]);
    assert.deepEqual(slugs(await listFlows({ search: tag, ordering: 'nonsense,-designation' })), [full, enroll, login_]);
    // pages.
    const first = await listFlows({ search: tag, pageSize: 2 });
    assert.deepEqual(slugs(first), [enroll, full]);
    assert.deepEqual(first.pagination, {
      next: 2, previous: 0, count: 3, current: 1, totalPages: 2, startIndex: 1, endIndex: 2,
    });
    const second = await listFlows({ search: tag, page: 2, pageSize: 2 });
    assert.deepEqual(slugs(second), [login_]);
    assert.deepEqual(second.pagination, {
      next: 0, previous: 1, count: 3, current: 2, totalPages: 2, startIndex: 3, endIndex: 3,
    });
    const res = await failure(flows.flowsInstancesList({ search: tag, page: 3, pageSize: 2 }));
    assert.deepEqual(res, { status: 404, body: { detail: 'Invalid page.' } });
  });

  let stageA;
  let stageB;
  let binding;

  test('flowsBindingsCreate: 201 with the concrete captcha stage in stage_obj', async () => {
    stageA = await newStage(`ts-a-${tag}`);
    stageB = await newStage(`ts-b-${tag}`);
    binding = await newBinding(login.pk, stageA.pk, 20);
    assert.equal(binding.target, login.pk);
    assert.equal(binding.stage, stageA.pk);
    assert.equal(binding.order, 20);
    assert.equal(binding.evaluateOnPlan, false);
    assert.equal(binding.reEvaluatePolicies, true);
    assert.equal(binding.policyEngineMode, 'any');
    assert.equal(binding.invalidResponseAction, 'retry');
    assert.deepEqual(
      { ...binding.stageObj, flowSet: binding.stageObj.flowSet.map((f) => f.slug) },
      {
        pk: stageA.pk,
        name: `ts-a-${tag}`,
        component: 'ak-stage-captcha-form',
        verboseName: 'Captcha Stage',
        verboseNamePlural: 'Captcha Stages',
        metaModelName: 'authentik_stages_captcha.captchastage',
        flowSet: [login.slug],
      },
    );
    const other = await newBinding(login.pk, stageB.pk, 10, {
      evaluateOnPlan: true, reEvaluatePolicies: false, policyEngineMode: 'all', invalidResponseAction: 'restart_with_context',
    });
    assert.deepEqual(
      [other.evaluateOnPlan, other.reEvaluatePolicies, other.policyEngineMode, other.invalidResponseAction],
      [true, false, 'all', 'restart_with_context'],
    );
    // The other views of the same rows: the flow's stages by order, the stage's flow_set.
    const flow = await flows.flowsInstancesRetrieve({ slug: login.slug });
    assert.deepEqual(flow.stages, [stageB.pk, stageA.pk]);
    const stage = await stages.stagesCaptchaRetrieve({ stageUuid: stageA.pk });
    assert.deepEqual(stage.flowSet.map((f) => f.pk), [login.pk]);
  });

  test('flowsBindingsRetrieve returns what create returned', async () => {
    const got = await answer(
      flows.flowsBindingsRetrieveRaw({ fsbUuid: binding.pk }), 200, checkBinding, FlowStageBindingFromJSON,
    );
    assert.deepEqual(got, binding);
  });

  test('flowsBindingsList: filters, search over the stage name, ordering, pages', async () => {
    const pks = (page) => page.results.map((b) => b.stage);
    assert.deepEqual(pks(await listBindings({ target: login.pk })), [stageB.pk, stageA.pk]);
    assert.deepEqual(pks(await listBindings({ target: login.pk, ordering: '-order' })), [stageA.pk, stageB.pk]);
    assert.deepEqual(pks(await listBindings({ target: login.pk, ordering: 'nonsense' })), [stageB.pk, stageA.pk]);
    assert.deepEqual(pks(await listBindings({ stage: stageA.pk })), [stageA.pk]);
    assert.deepEqual(pks(await listBindings({ target: login.pk, order: 10 })), [stageB.pk]);
    assert.deepEqual(pks(await listBindings({ target: login.pk, evaluateOnPlan: true })), [stageB.pk]);
    assert.deepEqual(pks(await listBindings({ target: login.pk, reEvaluatePolicies: true })), [stageA.pk]);
    assert.deepEqual(pks(await listBindings({ target: login.pk, policyEngineMode: 'any' })), [stageA.pk]);
    assert.deepEqual(pks(await listBindings({ target: login.pk, invalidResponseAction: 'retry' })), [stageA.pk]);
    assert.deepEqual(pks(await listBindings({ fsbUuid: binding.pk })), [stageA.pk]);
    assert.deepEqual(pks(await listBindings({ pbmUuid: binding.policybindingmodelPtrId })), [stageA.pk]);
    assert.deepEqual(pks(await listBindings({ search: `TS-B-${tag}` })), [stageB.pk]);
    assert.deepEqual(pks(await listBindings({ search: `ts-login-${tag}` })), []);
    const page = await listBindings({ target: login.pk, pageSize: 1, page: 2 });
    assert.deepEqual(pks(page), [stageA.pk]);
    assert.deepEqual(page.pagination, {
      next: 0, previous: 1, count: 2, current: 2, totalPages: 2, startIndex: 2, endIndex: 2,
    });
  });

  test('flowsInstancesUsedByList: the bindings by order, then the stages', async () => {
    const entries = await answer(
      flows.flowsInstancesUsedByListRaw({ slug: login.slug }), 200, checkUsedBy, (raw) => raw.map(UsedByFromJSON),
    );
    const bindings = await flows.flowsBindingsList({ target: login.pk });
    assert.deepEqual(entries.slice(0, 2), bindings.results.map((b) => ({
      app: 'authentik_flows',
      modelName: 'flowstagebinding',
      pk: b.pk,
      name: `Flow-stage binding #${b.order} to ${login.pk}`,
      action: 'cascade',
    })));
    assert.deepEqual(
      entries.slice(2).sort((x, y) => x.name.localeCompare(y.name)),
      [stageA, stageB].map((s) => ({
        app: 'authentik_flows', modelName: 'stage', pk: s.pk, name: `Stage ${s.name}`, action: 'cascade_many',
      })),
    );
    assert.equal(entries.length, 4);
  });

  test('flowsBindingsUsedByList is empty', async () => {
    const entries = await answer(
      flows.flowsBindingsUsedByListRaw({ fsbUuid: binding.pk }), 200, checkUsedBy, (raw) => raw.map(UsedByFromJSON),
    );
    assert.deepEqual(entries, []);
  });

  test('flowsInstancesUpdate: a slug change keeps pk and bindings', async () => {
    const updated = await answer(
      flows.flowsInstancesUpdateRaw({
        slug: login.slug,
        flowRequest: flowRequest(`ts-signin-${tag}`, { title: 'Sign in', layout: 'sidebar_left' }),
      }),
      200, checkFlow, FlowFromJSON,
    );
    assert.equal(updated.pk, login.pk);
    assert.equal(updated.policybindingmodelPtrId, login.policybindingmodelPtrId);
    assert.equal(updated.slug, `ts-signin-${tag}`);
    assert.equal(updated.exportUrl, `/api/v3/flows/instances/ts-signin-${tag}/export/`);
    assert.deepEqual(updated.stages, [stageB.pk, stageA.pk]);
    assert.equal(updated.layout, 'sidebar_left');
    const res = await failure(flows.flowsInstancesRetrieve({ slug: login.slug }));
    assert.deepEqual(res, { status: 404, body: { detail: 'No Flow matches the given query.' } });
    const got = await flows.flowsBindingsRetrieve({ fsbUuid: binding.pk });
    assert.deepEqual(got.stageObj.flowSet.map((f) => f.slug), [`ts-signin-${tag}`]);
    login = updated;
  });

  test('flowsInstancesPartialUpdate changes only the given keys', async () => {
    const patched = await answer(
      flows.flowsInstancesPartialUpdateRaw({ slug: login.slug, patchedFlowRequest: { compatibilityMode: true } }),
      200, checkFlow, FlowFromJSON,
    );
    assert.deepEqual(patched, { ...login, compatibilityMode: true });
    login = patched;
  });

  test('flowsBindingsUpdate and flowsBindingsPartialUpdate', async () => {
    const other = await newFlow(`ts-other-${tag}`);
    const moved = await answer(
      flows.flowsBindingsUpdateRaw({
        fsbUuid: binding.pk,
        flowStageBindingRequest: { target: other.pk, stage: stageA.pk, order: 5, invalidResponseAction: 'restart' },
      }),
      200, checkBinding, FlowStageBindingFromJSON,
    );
    assert.equal(moved.pk, binding.pk);
    assert.deepEqual([moved.target, moved.order, moved.invalidResponseAction], [other.pk, 5, 'restart']);
    assert.deepEqual((await flows.flowsInstancesRetrieve({ slug: login.slug })).stages, [stageB.pk]);
    assert.deepEqual((await flows.flowsInstancesRetrieve({ slug: other.slug })).stages, [stageA.pk]);

    const patched = await answer(
      flows.flowsBindingsPartialUpdateRaw({ fsbUuid: binding.pk, patchedFlowStageBindingRequest: { order: 6 } }),
      200, checkBinding, FlowStageBindingFromJSON,
    );
    assert.deepEqual(patched, { ...moved, order: 6 });
    binding = patched;
  });

  test('400: slug taken, unknown target, not a unique set, bad choices, bad filter values', async () => {
    let res = await failure(flows.flowsInstancesCreate({ flowRequest: flowRequest(login.slug) }));
    assert.deepEqual(res, { status: 400, body: { slug: ['Flow with this slug already exists.'] } });

    res = await failure(flows.flowsInstancesCreate({
      flowRequest: flowRequest(`ts-bad-${tag}`, { designation: 'bogus', layout: 'diagonal' }),
    }));
    assert.deepEqual(res, {
      status: 400,
      body: { designation: ['"bogus" is not a valid choice.'], layout: ['"diagonal" is not a valid choice.'] },
    });

    const ghost = randomUUID();
    res = await failure(flows.flowsBindingsCreate({
      flowStageBindingRequest: { target: ghost, stage: stageA.pk, order: 1 },
    }));
    assert.deepEqual(res, { status: 400, body: { target: [`Invalid pk "${ghost}" - object does not exist.`] } });

    res = await failure(flows.flowsBindingsCreate({
      flowStageBindingRequest: { target: binding.target, stage: binding.stage, order: binding.order },
    }));
    assert.deepEqual(res, {
      status: 400,
      body: { non_field_errors: ['The fields target, stage, order must make a unique set.'] },
    });

    res = await failure(flows.flowsBindingsPartialUpdate({
      fsbUuid: binding.pk, patchedFlowStageBindingRequest: { invalidResponseAction: 'panic' },
    }));
    assert.deepEqual(res, { status: 400, body: { invalid_response_action: ['"panic" is not a valid choice.'] } });

    res = await failure(flows.flowsBindingsList({ target: 'not-a-uuid' }));
    assert.deepEqual(res, { status: 400, body: { target: ['Enter a valid UUID.'] } });
    res = await failure(flows.flowsInstancesList({ designation: 'bogus' }));
    assert.deepEqual(res, {
      status: 400,
      body: { designation: ['Select a valid choice. bogus is not one of the available choices.'] },
    });
  });

  test('403: no token, and a token lacking the permission', async () => {
    let res = await failure(flowsClient(undefined).flowsInstancesList());
    assert.deepEqual(res, { status: 403, body: { detail: 'Authentication credentials were not provided.' } });
    res = await failure(flowsClient(`bad-${randomUUID()}`).flowsBindingsList());
    assert.deepEqual(res, { status: 403, body: { detail: 'Token invalid/expired' } });

    const flowViewer = flowsClient(server.createToken('authentik_flows.view_flow'));
    assert.equal((await flowViewer.flowsInstancesRetrieve({ slug: login.slug })).pk, login.pk);
    for (const call of [
      () => flowViewer.flowsBindingsList(),
      () => flowViewer.flowsBindingsRetrieve({ fsbUuid: binding.pk }),
      () => flowViewer.flowsInstancesPartialUpdate({ slug: login.slug, patchedFlowRequest: { title: 'x' } }),
      () => flowViewer.flowsInstancesDestroy({ slug: login.slug }),
      () => flowViewer.flowsInstancesCreate({ flowRequest: flowRequest(`ts-denied-${tag}`) }),
    ]) {
      assert.deepEqual(await failure(call()), { status: 403, body: PERMISSION_DENIED });
    }
    const bindingViewer = flowsClient(server.createToken('authentik_flows.view_flowstagebinding'));
    assert.equal((await bindingViewer.flowsBindingsRetrieve({ fsbUuid: binding.pk })).stageObj.component, 'ak-stage-captcha-form');
    for (const call of [
      () => bindingViewer.flowsInstancesList(),
      () => bindingViewer.flowsBindingsPartialUpdate({ fsbUuid: binding.pk, patchedFlowStageBindingRequest: { order: 1 } }),
      () => bindingViewer.flowsBindingsDestroy({ fsbUuid: binding.pk }),
      () => bindingViewer.flowsBindingsCreate({ flowStageBindingRequest: { target: login.pk, stage: stageA.pk, order: 77 } }),
    ]) {
      assert.deepEqual(await failure(call()), { status: 403, body: PERMISSION_DENIED });
    }
    assert.deepEqual(await flows.flowsBindingsRetrieve({ fsbUuid: binding.pk }), binding);
  });

  test('404: unknown slug, unknown binding, a binding id that is not a UUID', async () => {
    const noFlow = { status: 404, body: { detail: 'No Flow matches the given query.' } };
    const noBinding = { status: 404, body: { detail: 'No FlowStageBinding matches the given query.' } };
    const slug = `ts-ghost-${tag}`;
    assert.deepEqual(await failure(flows.flowsInstancesRetrieve({ slug })), noFlow);
    assert.deepEqual(await failure(flows.flowsInstancesUpdate({ slug, flowRequest: flowRequest(slug) })), noFlow);
    assert.deepEqual(await failure(flows.flowsInstancesPartialUpdate({ slug, patchedFlowRequest: {} })), noFlow);
    assert.deepEqual(await failure(flows.flowsInstancesDestroy({ slug })), noFlow);
    assert.deepEqual(await failure(flows.flowsInstancesUsedByList({ slug })), noFlow);
    const fsbUuid = randomUUID();
    assert.deepEqual(await failure(flows.flowsBindingsRetrieve({ fsbUuid })), noBinding);
    assert.deepEqual(await failure(flows.flowsBindingsUpdate({
      fsbUuid, flowStageBindingRequest: { target: login.pk, stage: stageA.pk, order: 1 },
    })), noBinding);
    assert.deepEqual(await failure(flows.flowsBindingsPartialUpdate({ fsbUuid, patchedFlowStageBindingRequest: {} })), noBinding);
    assert.deepEqual(await failure(flows.flowsBindingsDestroy({ fsbUuid })), noBinding);
    assert.deepEqual(await failure(flows.flowsBindingsUsedByList({ fsbUuid })), noBinding);
    assert.deepEqual(await failure(flows.flowsBindingsRetrieve({ fsbUuid: 'not-a-uuid' })), {
      status: 404, body: { detail: 'Not found.' },
    });
  });

  test('flowsBindingsDestroy: 204, the flow and the stage stay', async () => {
    const response = await flows.flowsBindingsDestroyRaw({ fsbUuid: binding.pk });
    assert.equal(response.raw.status, 204);
    assert.equal(await response.raw.text(), '');
    const res = await failure(flows.flowsBindingsRetrieve({ fsbUuid: binding.pk }));
    assert.deepEqual(res, { status: 404, body: { detail: 'No FlowStageBinding matches the given query.' } });
    assert.deepEqual((await flows.flowsInstancesRetrieve({ slug: `ts-other-${tag}` })).stages, []);
    assert.deepEqual((await stages.stagesCaptchaRetrieve({ stageUuid: stageA.pk })).flowSet, []);
  });

  test('flowsInstancesDestroy: 204, removes its bindings and no stage', async () => {
    const remaining = await flows.flowsBindingsList({ target: login.pk });
    assert.equal(remaining.results.length, 1);
    const response = await flows.flowsInstancesDestroyRaw({ slug: login.slug });
    assert.equal(response.raw.status, 204);
    assert.equal(await response.raw.text(), '');
    assert.deepEqual((await flows.flowsBindingsList({ target: login.pk })).results, []);
    const res = await failure(flows.flowsBindingsRetrieve({ fsbUuid: remaining.results[0].pk }));
    assert.equal(res.status, 404);
    const stage = await stages.stagesCaptchaRetrieve({ stageUuid: stageB.pk });
    assert.equal(stage.name, `ts-b-${tag}`);
    assert.deepEqual(stage.flowSet, []);
  });
});
