// What a run knows is already in the PII vault, so it neither seals nor proposes it again.
//
// Every batch with the vault on proposes an entry for each value it carries; a value already
// there costs a seal in the ETL (~6 µs) and an index probe in Postgres, only to be skipped. Real
// traffic repeats devices and addresses far more than it brings new ones, so a run remembers the
// masks its own committed batches left in the vault, and later batches skip them.
//
// That memory is true only while no entry has gone since: `etl forget`, a re-mask, a DBA. Each of
// those bumps etl.vault_generation (migration 005, by trigger), and every batch reads it on its
// own snapshot. The memory is tagged with the generation it was learnt under; a batch that
// skipped a mask and finds another generation rolls back, the memory is emptied, and the batch
// proposes every value again (postgres-sink.ts). A batch learns only when all its messages were
// new and all its rows were inserted: then every mask it carried has its entry, at the
// generation its statement read.

import type { LoginRow } from "../types.js";
import { MASK_COLUMN } from "./vault.js";
import { VAULT_FIELDS, type VaultField } from "./vault-cipher.js";

/** Masks remembered per field; past that the memory starts over (~100 bytes per mask). */
export const KNOWN_MASKS_PER_FIELD = 50_000;

/** The batch statement's column: the vault's generation on the statement's snapshot. */
export const VAULT_GENERATION_SQL =
  "(SELECT generation FROM etl.vault_generation)::text AS vault_generation";

/** A batch skipped masks under a generation that is no longer the current one. */
export class VaultGenerationChanged extends Error {
  constructor(readonly generation: string) {
    super("vault entries were deleted since this run learnt which masks the vault holds");
  }
}

export class KnownVaultEntries {
  private current: bigint | undefined;
  private readonly masks = new Map<VaultField, Set<string>>(
    VAULT_FIELDS.map((field) => [field, new Set<string>()]),
  );

  constructor(private readonly capacity = KNOWN_MASKS_PER_FIELD) {}

  /** The generation the memory holds for; undefined until a batch has read one. */
  get generation(): string | undefined {
    return this.current?.toString();
  }

  has(field: VaultField, mask: string): boolean {
    return this.current !== undefined && (this.masks.get(field)?.has(mask) ?? false);
  }

  /** Forget everything: entries were deleted; `generation` is the one found. */
  reset(generation: string | null): void {
    for (const set of this.masks.values()) set.clear();
    this.current = generation === null ? undefined : BigInt(generation);
  }

  /**
   * A batch committed all its rows, at `generation`: their masks have entries. A batch from an
   * older generation than the memory's teaches nothing; a newer one replaces it.
   */
  learn(generation: string | null | undefined, rows: readonly LoginRow[]): void {
    if (generation === null || generation === undefined) return;
    const found = BigInt(generation);
    if (this.current !== undefined && found < this.current) return;
    if (this.current === undefined || found > this.current) this.reset(generation);
    for (const field of VAULT_FIELDS) {
      const set = this.masks.get(field);
      if (!set) continue;
      for (const row of rows) {
        const mask = row[MASK_COLUMN[field]];
        if (mask === null) continue;
        if (set.size >= this.capacity) set.clear();
        set.add(mask);
      }
    }
  }
}
