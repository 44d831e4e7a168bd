import type { CodegenConfig } from "@graphql-codegen/cli";

// Every custom scalar of the schema travels as an ISO-8601 or IANA string. With strictScalars,
// a scalar added to the schema and not mapped here fails codegen instead of becoming `any`.
const scalars = {
  DateTime: "string", // 2026-03-09T09:00:00+00:00 (RFC 3339, always with an offset)
  Date: "string", // 2026-03-09
  Time: "string", // 09:00:00 (09:00 accepted)
  TimeZone: "string", // an IANA name: Europe/London
};

const config: CodegenConfig = {
  schema: "../../schema/schema.graphql",
  documents: ["src/**/*.ts", "!src/gql/**/*"],
  generates: {
    // Typed documents (TypedDocumentNode) for the operations written with graphql() in src/.
    "src/gql/": {
      preset: "client",
      config: {
        scalars,
        strictScalars: true,
        // Enums as string unions and `import type` only: the generated code is types and
        // documents, nothing tsx or verbatimModuleSyntax would have to transform.
        enumsAsTypes: true,
        useTypeImports: true,
        // Relative imports end in .js, as Node's ES modules (and tsconfig's NodeNext) require.
        importExtension: ".js",
      },
    },
    // Apollo Client's possibleTypes: which types each union and interface may be.
    "src/gql/possible-types.ts": {
      plugins: ["fragment-matcher"],
    },
  },
};

export default config;
