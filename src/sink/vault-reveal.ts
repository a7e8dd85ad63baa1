// `etl reveal` and `etl reveal-audit`: the only way back from a mask to its original, and the
// trail it leaves. The audit record is written in the transaction that reads the entry, and the
// value is printed only after that transaction committed: no reveal without its record.
import type { Pool } from "pg";
import { withTransaction } from "./transaction.js";
import { audit, vaultMask } from "./vault.js";
import type { VaultCipher, VaultField } from "./vault-cipher.js";

export type RevealResult =
  /** verified: the value masks to the mask under the current PII_HASH_KEY (given to reveal). */
  | { kind: "revealed"; value: string; verified: boolean }
  /**
   * The entry opens but its value does not mask to its mask under the hash key that made it: an
   * entry planted by someone holding the vault key and INSERT on the vault, before the real value
   * arrived (first writer wins). Not printed.
   */
  | { kind: "mismatch" }
  /** No entry for this field and mask: never loaded with the vault on, or erased. */
  | { kind: "unknown" }
  /** Sealed under a vault key none of the given keys is (a rotation not finished). */
  | { kind: "other-key"; fingerprint: string }
  /** The entry does not open with its own key: damaged, or moved from another mask. */
  | { kind: "damaged" };

export interface RevealRequest {
  field: VaultField;
  mask: string;
  actor: string;
  reason: string;
}

/** With PII_HASH_KEY given: the key's fingerprint and its masks, to check an entry against. */
export interface MaskCheck {
  fingerprint: string;
  mask(field: VaultField, value: string): string;
}

/** Every attempt is audited, found or not: probing for masks leaves a trail too. */
export async function reveal(
  pool: Pool,
  ciphers: readonly VaultCipher[],
  request: RevealRequest,
  check?: MaskCheck,
): Promise<RevealResult> {
  return withTransaction(pool, async (client) => {
    const entry = await client.query<Found>(
      `SELECT hash_key, vault_key, sealed FROM etl.pii_vault
        WHERE mask = ${vaultMask("$2::text")} AND field = $1`,
      [request.field, request.mask],
    );
    const found = entry.rows[0];
    const result = open(ciphers, request, found, check);
    await audit(client, {
      actor: request.actor,
      action: "reveal",
      reason: request.reason,
      field: request.field,
      mask: request.mask,
      counts: { outcome: result.kind },
    });
    return result;
  });
}

interface Found {
  hash_key: string;
  vault_key: string;
  sealed: Buffer;
}

function open(
  ciphers: readonly VaultCipher[],
  request: RevealRequest,
  found: Found | undefined,
  check: MaskCheck | undefined,
): RevealResult {
  if (found === undefined) return { kind: "unknown" };
  const cipher = ciphers.find((c) => c.fingerprint === found.vault_key);
  if (!cipher) return { kind: "other-key", fingerprint: found.vault_key };
  const value = cipher.open(request.field, request.mask, found.sealed);
  if (value === null) return { kind: "damaged" };
  // Only an entry made under the given hash key can be checked against it.
  const checkable = check !== undefined && check.fingerprint === found.hash_key;
  if (checkable && check.mask(request.field, value) !== request.mask) return { kind: "mismatch" };
  return { kind: "revealed", value, verified: checkable };
}

export interface AuditRow {
  auditId: string;
  at: Date;
  actor: string;
  dbUser: string;
  clientAddr: string | null;
  action: string;
  reason: string;
  field: string | null;
  mask: string | null;
  counts: Record<string, unknown>;
}

/** The newest `limit` records, newest first. */
export async function listAudit(pool: Pool, limit: number): Promise<AuditRow[]> {
  const result = await pool.query<AuditRow>(
    `SELECT audit_id AS "auditId", at, actor, db_user AS "dbUser", client_addr::text AS "clientAddr",
            action, reason, field, mask, counts
       FROM etl.pii_audit ORDER BY audit_id DESC LIMIT $1`,
    [limit],
  );
  return result.rows;
}
