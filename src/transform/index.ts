// Public API of the transform stage. Everything here is pure (no I/O).

export { canonicalizeIp } from "./ip.js";
export type { Masker } from "./mask.js";
export { createMasker, MIN_KEY_BYTES } from "./mask.js";
export { maskPayload } from "./rejected-payload.js";
export type { TransformInput } from "./transform.js";
export { sentTime, storedPayload, transformMessage, userIdOf } from "./transform.js";
export { encodeAppVersion } from "./version.js";
