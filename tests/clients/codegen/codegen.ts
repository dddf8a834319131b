import type { CodegenConfig } from "@graphql-codegen/cli";

// `UUID` is a string on the wire; without a mapping GraphQL Code Generator types it as
// `unknown`/`any`. strictScalars makes any other custom scalar without a mapping an error.
const scalars = { UUID: "string" };

const config: CodegenConfig = {
  // The checked-in SDL, and the operations the graphql-gql suite runs against the real binary.
  schema: "../../../schema.graphql",
  documents: "../graphql-gql/operations/*.graphql",
  generates: {
    // Every type of the schema (objects, inputs, enums).
    "generated/schema.ts": {
      plugins: ["typescript"],
      config: { scalars, strictScalars: true, enumsAsTypes: true },
    },
    // One result and one variables type per operation; it writes the enums and inputs those
    // use itself, so it has a file of its own.
    "generated/operations.ts": {
      plugins: ["typescript-operations"],
      config: { scalars, strictScalars: true },
    },
  },
};

export default config;
