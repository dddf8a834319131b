// What a frontend writes with the generated types. `tsc --noEmit` checks it; nothing runs it.
// A change to schema.graphql or openapi.json that breaks these types breaks this file.
import type {
  CaptchaStageQuery,
  CaptchaStageQueryVariables,
  CreateCaptchaStageMutation,
  CreateCaptchaStageMutationVariables,
  FlowsQuery,
  FlowsQueryVariables,
} from "./generated/operations";
import type { Scalars, CaptchaStage as SchemaCaptchaStage } from "./generated/schema";
import type { components, paths } from "./generated/openapi";

/** `true` only when A and B are the same type: `unknown` and `any` are not `string`. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

type QueriedStage = NonNullable<CaptchaStageQuery["captchaStage"]>;
type RestCaptchaStage = components["schemas"]["CaptchaStage"];

// UUIDs are strings in every generated file, and a GraphQL `id` is a REST `pk`.
export const uuidScalar: Equal<Scalars["UUID"]["output"], string> = true;
export const schemaId: Equal<SchemaCaptchaStage["id"], string> = true;
export const queriedId: Equal<QueriedStage["id"], string> = true;
export const flowId: Equal<QueriedStage["flowSet"][number]["id"], string> = true;
export const variableId: Equal<CaptchaStageQueryVariables["id"], string> = true;
export const restPk: Equal<RestCaptchaStage["pk"], QueriedStage["id"]> = true;

/** A POST /graphql with a bearer token, as GraphiQL and any fetch-based client send it. */
async function graphql<Data, Variables>(query: string, variables: Variables, token: string): Promise<Data> {
  const response = await fetch("/graphql", {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: Data | null; errors?: { message: string }[] };
  if (body.errors?.length || !body.data) throw new Error(body.errors?.[0]?.message ?? "no data");
  return body.data;
}

export async function createStage(token: string): Promise<string> {
  const variables: CreateCaptchaStageMutationVariables = {
    input: {
      name: "signup-captcha",
      publicKey: "site-key",
      privateKey: "secret-key",
      flowSet: [{ name: "Sign up", slug: "signup", title: "Join us", designation: "ENROLLMENT" }],
    },
  };
  const data = await graphql<CreateCaptchaStageMutation, CreateCaptchaStageMutationVariables>(
    "mutation CreateCaptchaStage($input: CreateCaptchaStageInput!) { createCaptchaStage(input: $input) { id } }",
    variables,
    token,
  );
  const id: string = data.createCaptchaStage.id;
  return id;
}

export async function stageFlows(id: string, token: string): Promise<string[]> {
  const data = await graphql<CaptchaStageQuery, CaptchaStageQueryVariables>(
    "query CaptchaStage($id: UUID!) { captchaStage(id: $id) { id flowSet { slug } } }",
    { id },
    token,
  );
  const stage: QueriedStage | null = data.captchaStage;
  return stage ? stage.flowSet.map((flow) => flow.slug) : [];
}

export async function enrollmentFlows(token: string): Promise<Array<{ id: string; slug: string }>> {
  const variables: FlowsQueryVariables = { designation: "ENROLLMENT", pageSize: 20 };
  const data = await graphql<FlowsQuery, FlowsQueryVariables>(
    "query Flows($designation: FlowDesignation, $pageSize: Int) " +
      "{ flows(designation: $designation, pageSize: $pageSize) { results { id slug } } }",
    variables,
    token,
  );
  const pages: number = data.flows.pagination.totalPages;
  return pages > 0 ? data.flows.results.map(({ id, slug }) => ({ id, slug })) : [];
}

/** GET /api/v3/stages/captcha/{stage_uuid}/, typed by the OpenAPI document. */
export async function restStage(id: string, token: string): Promise<RestCaptchaStage> {
  type Retrieved =
    paths["/stages/captcha/{stage_uuid}/"]["get"]["responses"][200]["content"]["application/json"];
  const response = await fetch(`/api/v3/stages/captcha/${encodeURIComponent(id)}/`, {
    headers: { Authorization: `Bearer ${token}` },
  });
  const retrieved = (await response.json()) as Retrieved;
  const stage: RestCaptchaStage = retrieved;
  return stage;
}

// A literal of each shape: a field renamed, retyped or made required breaks it.
export const restSample: RestCaptchaStage = {
  pk: "3f0c7a9e-5b1d-4c55-9a0e-0d6f1d2b7c11",
  name: "signup-captcha",
  component: "ak-stage-captcha-form",
  verbose_name: "Captcha Stage",
  verbose_name_plural: "Captcha Stages",
  meta_model_name: "authentik_stages_captcha.captchastage",
  public_key: "site-key",
  flow_set: [],
  interactive: false,
  score_min_threshold: 0.5,
  score_max_threshold: 1,
  error_on_invalid_score: true,
};

export function toGraphqlShape(rest: RestCaptchaStage): Pick<QueriedStage, "id" | "name" | "publicKey"> {
  return { id: rest.pk, name: rest.name, publicKey: rest.public_key };
}
