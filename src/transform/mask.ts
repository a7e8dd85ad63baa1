// Keyed pseudonymisation of PII (ip, device_id).
//
// Why HMAC and not a plain hash: an IPv4 address has only 2^32 values and a
// device id like "593-47-5928" only 10^9, so an unkeyed SHA-256 could be
// reversed by enumerating every candidate. With a secret key the masks are
// still deterministic (the same device always gets the same mask, so analysts
// can count and join on it) but cannot be reversed without the key.

import { createHmac } from "node:crypto";

/** Shortest key accepted: 256 bits, the output size of SHA-256 (RFC 2104 §3 advice). */
export const MIN_KEY_BYTES = 32;

export interface Masker {
  /** Mask an IP address. Pass the canonical form (see canonicalizeIp) so that
   *  "2001:DB8::1" and "2001:db8:0::1" get the same mask. */
  ip(canonicalIp: string): string;
  /** Mask a device id exactly as given. */
  deviceId(value: string): string;
}

// Domain separation: each field gets its own subkey, so the same string masked
// as an ip and as a device_id yields unrelated values. Without this, anyone
// who sees both columns could tell that a device_id equals some user's ip.
// The "v1" lets us rotate the derivation later without ambiguity.
const IP_DOMAIN = "login-etl/v1/mask/ip";
const DEVICE_ID_DOMAIN = "login-etl/v1/mask/device_id";

function hmac(key: Buffer, data: string): Buffer {
  return createHmac("sha256", key).update(data, "utf8").digest();
}

/**
 * Build a masker from the secret key. Subkeys are derived once here, so the
 * per-value cost is a single HMAC and the caller's key buffer is not retained.
 * Throws if the key is shorter than MIN_KEY_BYTES: a weak key would silently
 * make every mask brute-forceable, which is worse than refusing to start.
 */
export function createMasker(key: Buffer): Masker {
  if (!Buffer.isBuffer(key) || key.length < MIN_KEY_BYTES) {
    throw new RangeError(`mask key must be at least ${MIN_KEY_BYTES} bytes`);
  }
  const ipKey = hmac(key, IP_DOMAIN);
  const deviceIdKey = hmac(key, DEVICE_ID_DOMAIN);
  // Lower-case hex, 64 characters: fixed width, safe in any text column.
  return Object.freeze({
    ip: (canonicalIp: string) => hmac(ipKey, canonicalIp).toString("hex"),
    deviceId: (value: string) => hmac(deviceIdKey, value).toString("hex"),
  });
}
