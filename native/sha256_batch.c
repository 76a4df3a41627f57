/*
 * Batched SHA-256 for the MMR hot path (src/mmr/sha256.ts): one N-API call hashes many messages
 * with the SHA-256 of Node's own bundled OpenSSL (SHA-NI where the CPU has it), so the per-call
 * cost of crossing from JavaScript is paid once per batch instead of once per hash. The symbols
 * SHA256_* are resolved from the node binary when the addon is loaded; nothing is vendored.
 *
 * Every argument is validated here; bad input throws a TypeError / RangeError and nothing is read
 * or written outside the given views.
 */
#include <node_api.h>
#include <openssl/sha.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define DIGEST_BYTES 32

/* Throws (if no exception is pending yet) and returns NULL from the calling callback. */
#define THROW_RANGE(env, msg)                   \
  do {                                          \
    napi_throw_range_error((env), NULL, (msg)); \
    return NULL;                                \
  } while (0)
#define THROW_TYPE(env, msg)                   \
  do {                                         \
    napi_throw_type_error((env), NULL, (msg)); \
    return NULL;                               \
  } while (0)

/* A typed array's element type, data and length in elements; false (with a TypeError thrown) otherwise. */
static int get_typed(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *length, const char *what) {
  bool is_typed = false;
  if (napi_is_typedarray(env, v, &is_typed) != napi_ok || !is_typed) {
    napi_throw_type_error(env, NULL, what);
    return 0;
  }
  napi_typedarray_type type;
  if (napi_get_typedarray_info(env, v, &type, length, data, NULL, NULL) != napi_ok || type != want) {
    napi_throw_type_error(env, NULL, what);
    return 0;
  }
  /* A zero-length view may report a NULL data pointer; callers never dereference it then. */
  return 1;
}

/*
 * The low-level SHA256_Init/Update/Final (deprecated since OpenSSL 3.0, still exported by node):
 * they call the CPU-dispatched block function directly. OpenSSL 3's one-shot SHA256() goes
 * through EVP_Q_digest, which fetches the algorithm on every call and is ~3x slower here.
 * None of them can fail for in-memory input.
 */
static void hash_one(const uint8_t *data, size_t length, uint8_t *out) {
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, data, length);
  SHA256_Final(out, &ctx);
}

/*
 * hashMany(input: Uint8Array, offsets: Uint32Array, out: Uint8Array): undefined
 * Message i is input[offsets[i] .. offsets[i+1]); its digest goes to out[32 i .. 32 i + 32).
 * Requires offsets.length ≥ 1, offsets non-decreasing, offsets[last] ≤ input.length and
 * out.length = 32 × (offsets.length − 1).
 */
static napi_value HashMany(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc != 3) THROW_TYPE(env, "sha256Many(input, offsets, out) takes 3 arguments");
  uint8_t *input;
  uint32_t *offsets;
  uint8_t *out;
  size_t input_len, n_offsets, out_len;
  if (!get_typed(env, argv[0], napi_uint8_array, (void **)&input, &input_len, "sha256Many: input must be a Uint8Array")) return NULL;
  if (!get_typed(env, argv[1], napi_uint32_array, (void **)&offsets, &n_offsets, "sha256Many: offsets must be a Uint32Array")) return NULL;
  if (!get_typed(env, argv[2], napi_uint8_array, (void **)&out, &out_len, "sha256Many: out must be a Uint8Array")) return NULL;
  if (n_offsets == 0) THROW_RANGE(env, "sha256Many: offsets must hold n + 1 boundaries (at least 1)");
  size_t n = n_offsets - 1;
  if (out_len / DIGEST_BYTES != n || out_len % DIGEST_BYTES != 0) THROW_RANGE(env, "sha256Many: out.length must be 32 × (offsets.length − 1)");
  /* Validate every boundary before hashing anything, so a bad call writes nothing. */
  for (size_t i = 0; i < n; i++) {
    if (offsets[i] > offsets[i + 1]) THROW_RANGE(env, "sha256Many: offsets must be non-decreasing");
  }
  if ((size_t)offsets[n] > input_len) THROW_RANGE(env, "sha256Many: offsets run past the end of input");
  for (size_t i = 0; i < n; i++) hash_one(input + offsets[i], offsets[i + 1] - offsets[i], out + i * DIGEST_BYTES);
  return NULL;
}

/*
 * hashNodes(digests: Uint8Array, slots: Uint32Array, height: number, base: bigint): undefined
 * MMR internal nodes of one height h over a flat digest buffer whose slot r (bytes [32 r, 32 r + 32))
 * holds the node at position base + r: for each r in `slots`, in order, hashes
 * be64(base + r) ‖ slot (r − 2^h) ‖ slot (r − 1) (the node's left and right children) into slot r.
 * Requires 1 ≤ h ≤ 62, 2^h ≤ r, 32 (r + 1) ≤ digests.length and base + r < 2^64 for every r.
 */
static napi_value HashNodes(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc != 4) THROW_TYPE(env, "sha256Nodes(digests, slots, height, base) takes 4 arguments");
  uint8_t *digests;
  uint32_t *slots;
  size_t digests_len, n;
  if (!get_typed(env, argv[0], napi_uint8_array, (void **)&digests, &digests_len, "sha256Nodes: digests must be a Uint8Array")) return NULL;
  if (!get_typed(env, argv[1], napi_uint32_array, (void **)&slots, &n, "sha256Nodes: slots must be a Uint32Array")) return NULL;
  napi_valuetype t;
  if (napi_typeof(env, argv[2], &t) != napi_ok || t != napi_number) THROW_TYPE(env, "sha256Nodes: height must be a number");
  double height_d;
  if (napi_get_value_double(env, argv[2], &height_d) != napi_ok) return NULL;
  if (!(height_d >= 1 && height_d <= 62) || height_d != (double)(int)height_d) THROW_RANGE(env, "sha256Nodes: height must be an integer in [1, 62]");
  uint64_t left_back = (uint64_t)1 << (int)height_d;
  if (napi_typeof(env, argv[3], &t) != napi_ok || t != napi_bigint) THROW_TYPE(env, "sha256Nodes: base must be a bigint");
  uint64_t base;
  bool lossless = false;
  if (napi_get_value_bigint_uint64(env, argv[3], &base, &lossless) != napi_ok) return NULL;
  if (!lossless) THROW_RANGE(env, "sha256Nodes: base must be in [0, 2^64)");
  size_t slot_count = digests_len / DIGEST_BYTES;
  /* Validate every slot before hashing anything, so a bad call writes nothing. */
  for (size_t i = 0; i < n; i++) {
    uint64_t r = slots[i];
    if (r < left_back || r >= slot_count) THROW_RANGE(env, "sha256Nodes: a slot or one of its children lies outside digests");
    if (r > UINT64_MAX - base) THROW_RANGE(env, "sha256Nodes: base + slot exceeds 2^64 − 1");
  }
  uint8_t input[8 + 2 * DIGEST_BYTES];
  for (size_t i = 0; i < n; i++) {
    uint64_t r = slots[i];
    uint64_t pos = base + r;
    for (int b = 0; b < 8; b++) input[b] = (uint8_t)(pos >> (56 - 8 * b));
    memcpy(input + 8, digests + (r - left_back) * DIGEST_BYTES, DIGEST_BYTES);
    memcpy(input + 8 + DIGEST_BYTES, digests + (r - 1) * DIGEST_BYTES, DIGEST_BYTES);
    hash_one(input, sizeof input, digests + r * DIGEST_BYTES);
  }
  return NULL;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"hashMany", NULL, HashMany, NULL, NULL, NULL, napi_enumerable, NULL},
      {"hashNodes", NULL, HashNodes, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
