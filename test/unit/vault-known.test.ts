// What a run remembers the PII vault holds: only under the generation it learnt it, bounded, and
// never taught by a batch from an older generation. Migration 005's trigger takes the same lock
// the writers do.
import assert from "node:assert/strict";
import { test } from "node:test";
import * as m005 from "../../src/sink/migrations/005-vault-generation.js";
import { VAULT_WRITERS_LOCK_ID } from "../../src/sink/vault.js";
import { KnownVaultEntries } from "../../src/sink/vault-known.js";
import type { LoginRow } from "../../src/types.js";

const row = (ip: string | null, device: string | null): LoginRow => ({
  user_id: "u",
  device_type: "ios",
  masked_ip: ip,
  masked_device_id: device,
  locale: null,
  app_version: null,
  create_date: "2026-12-05",
});

test("nothing is known before a generation is read; a newer generation replaces the memory, an older one teaches nothing", () => {
  const known = new KnownVaultEntries();
  assert.equal(known.has("ip", "a"), false);
  known.learn("3", [row("a", "d")]);
  assert.equal(known.has("ip", "a"), true);
  assert.equal(known.has("device_id", "d"), true);
  assert.equal(known.has("device_id", "a"), false, "a mask is known per field");
  known.learn("2", [row("b", null)]);
  assert.equal(known.has("ip", "b"), false, "a batch from before a deletion teaches nothing");
  known.learn("4", [row("c", null)]);
  assert.equal(known.has("ip", "a"), false, "what was known under 3 is forgotten under 4");
  assert.equal(known.has("ip", "c"), true);
  assert.equal(known.generation, "4");
  known.reset("5");
  assert.equal(known.has("ip", "c"), false);
  known.learn(null, [row("e", null)]);
  assert.equal(known.has("ip", "e"), false, "no generation read: nothing learnt");
});

test("the memory is bounded: past its capacity it starts over", () => {
  const known = new KnownVaultEntries(3);
  known.learn("1", [row("a", null), row("b", null), row("c", null)]);
  assert.equal(known.has("ip", "a"), true);
  known.learn("1", [row("d", null)]);
  assert.equal(known.has("ip", "a"), false);
  assert.equal(known.has("ip", "d"), true);
});

test("migration 005's trigger takes the vault writers' lock", () => {
  assert.match(m005.sql, new RegExp(`pg_advisory_xact_lock\\(${VAULT_WRITERS_LOCK_ID}\\)`));
});
