# N-API addon: batched SHA-256 over the OpenSSL that the running node binary exports
# (headers from node's own include dir; no OpenSSL is linked or vendored). Built by
# native/build.js during `npm ci`; src/mmr/sha256.ts falls back to wasm without it.
{
  "targets": [
    {
      "target_name": "sha256_batch",
      "sources": ["sha256_batch.c"],
      "defines": ["NAPI_VERSION=8", "OPENSSL_API_COMPAT=0x10100000L"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Werror"]
    }
  ]
}
