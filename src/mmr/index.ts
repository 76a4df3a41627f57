/** The MMR layer: position arithmetic, hashing, in-memory MMR, range proofs and verification. */
export * from "./errors";
export * from "./position";
export { DIGEST_BYTES, SHA256_BATCH_IMPLEMENTATION, SHA256_IMPLEMENTATION, sha256, sha256Into } from "./sha256";
export { leafDigest, nodeDigest, rootDigest } from "./hasher";
export { MemMmr, type MemMmrComponents } from "./mem";
export { type NodeSource, type Proof, buildRangeProof, decodeProof, encodeProof, nodesRequiredForRangeProof, readProof } from "./proof";
export { type VerifiedRange, extractPinnedNodes, reconstructRoot, verifyRangeAndCollect, verifyRangeInclusion } from "./verification";
