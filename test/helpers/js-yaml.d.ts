// The part of js-yaml 3 (a pinned dev dependency) the deployment tests use; it ships no types.
declare module "js-yaml" {
  /** Parses every document of a YAML stream (safe schema: no custom types). */
  export function safeLoadAll(text: string): unknown[];
}
