// Shared fixtures for the transform unit tests (not a test file itself).

import { createHmac } from "node:crypto";

/** A fixed 32-byte key, so expected masks can be recomputed independently. */
export const KEY = Buffer.from("0123456789abcdef0123456789abcdef", "utf8");
export const OTHER_KEY = Buffer.from("fedcba9876543210fedcba9876543210", "utf8");

/** The documented derivation, written out with node:crypto and no project code. */
export function expectedMask(key: Buffer, field: "ip" | "device_id", value: string): string {
  const subkey = createHmac("sha256", key).update(`login-etl/v1/mask/${field}`).digest();
  return createHmac("sha256", subkey).update(value, "utf8").digest("hex");
}

export const HEX64 = /^[0-9a-f]{64}$/;
