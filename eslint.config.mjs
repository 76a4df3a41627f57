// ESLint flat config: the recommended JavaScript and typescript-eslint rules. Formatting is
// Prettier's job (`.prettierrc.json`), so no style rules here. Generated code is not linted.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

/** The Node.js globals the plain CommonJS scripts (bin/, scripts/, jest.config.js) use. */
const nodeGlobals = Object.fromEntries(
  ["require", "module", "exports", "process", "console", "Buffer", "__dirname", "setTimeout", "clearTimeout"].map((name) => [name, "readonly"]),
);

export default tseslint.config(
  { ignores: ["gen/**", "dist/**", "node_modules/**", "src/server/descriptors.generated.ts"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      // `_`-prefixed names mark deliberately unused parameters and bindings.
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" }],
    },
  },
  {
    files: ["**/*.js"],
    languageOptions: { sourceType: "commonjs", globals: nodeGlobals },
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
);
