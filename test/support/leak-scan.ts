// Looking for raw PII and secrets in command output and in a whole database. Used by
// test/integration/leaks.test.ts; its own test proves each detector finds planted values.
import { spawnSync } from "node:child_process";
import { isIPv4, isIPv6 } from "node:net";
import ipaddr from "ipaddr.js";
import type pg from "pg";

/**
 * The strings that must not appear for a set of raw ip / device_id values: each value as written,
 * in lower and upper case and JSON-escaped; for an IPv6 address its RFC 5952 form (what the
 * pipeline masks) and for an IPv4-mapped one the IPv4 address; for an IPv4 address also its first
 * three octets with the dot ("203.0.113."), so a value cut short is caught too.
 */
export function piiNeedles(values: Iterable<string>): Set<string> {
  const out = new Set<string>();
  const add = (v: string) => {
    for (const s of [v, v.toLowerCase(), v.toUpperCase()]) {
      out.add(s);
      out.add(JSON.stringify(s).slice(1, -1));
    }
  };
  for (const value of values) {
    add(value);
    const bare = value.trim().replace(/%.*$/, "");
    if (bare !== value) add(bare);
    if (isIPv4(bare)) add(bare.replace(/\d+$/, ""));
    if (isIPv6(bare)) {
      const v6 = ipaddr.IPv6.parse(bare);
      add(v6.toRFC5952String());
      if (v6.isIPv4MappedAddress()) {
        const v4 = v6.toIPv4Address().toString();
        add(v4);
        add(v4.replace(/\d+$/, ""));
      }
    }
  }
  out.delete("");
  return out;
}

/** Every needle found in `haystack`. */
export function findLeaks(haystack: string, needles: Iterable<string>): string[] {
  return [...needles].filter((n) => haystack.includes(n));
}

/**
 * Things shaped like an IPv4 address or a ddd-dd-dddd device id, wherever they come from, except
 * the listed infrastructure addresses (the servers' own 127.0.0.1).
 */
export function findPiiShapes(haystack: string, allowed: readonly string[] = []): string[] {
  const shapes = /(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d])|(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)/g;
  return [...haystack.matchAll(shapes)].map((m) => m[0]).filter((s) => !allowed.includes(s));
}

export interface DatabaseDump {
  /** schema.table of every table dumped. */
  tables: string[];
  /** Every row as text, then every bytea value decoded as UTF-8, Latin-1 and UTF-16LE. */
  text: string;
}

/**
 * Every row of every table in every non-system schema, enumerated from pg_catalog, as
 * `t::text`. bytea renders as hex there, which would hide a plaintext body stored as bytes, so
 * every bytea column is also fetched as bytes and decoded (UTF-16LE at both byte alignments,
 * since the rejected-body cipher works on UTF-16 code units).
 *
 * Why not pg_dump: the system pg_dump here is version 15 and the embedded server is 17, and
 * pg_dump refuses servers newer than itself. `compatiblePgDump` runs it when it can; this dump is
 * taken either way because pg_dump also prints bytea as hex.
 */
export async function dumpDatabase(pool: pg.Pool): Promise<DatabaseDump> {
  const tables = await pool.query<{ name: string }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS name
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p', 'm')
        AND n.nspname <> 'information_schema'
        AND n.nspname NOT LIKE 'pg\\_%'
      ORDER BY 1`,
  );
  const byteaColumns = await pool.query<{ tbl: string; col: string }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS tbl, quote_ident(a.attname) AS col
       FROM pg_catalog.pg_attribute a
       JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE a.atttypid = 'bytea'::regtype AND a.attnum > 0 AND NOT a.attisdropped
        AND c.relkind IN ('r', 'p', 'm')
        AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'`,
  );
  const parts: string[] = [];
  for (const { name } of tables.rows) {
    const rows = await pool.query<{ t: string }>(`SELECT t::text AS t FROM ${name} t`);
    parts.push(...rows.rows.map((r) => r.t));
  }
  for (const { tbl, col } of byteaColumns.rows) {
    const rows = await pool.query<{ b: Buffer | null }>(`SELECT ${col} AS b FROM ${tbl}`);
    for (const { b } of rows.rows) {
      if (!b) continue;
      parts.push(b.toString("utf8"), b.toString("latin1"));
      parts.push(b.toString("utf16le"), b.subarray(1).toString("utf16le"));
    }
  }
  return { tables: tables.rows.map((r) => r.name), text: parts.join("\n") };
}

/**
 * `pg_dump --data-only` of the database, if the pg_dump on PATH is at least as new as the server
 * (it refuses older-than-server otherwise); undefined when there is no usable pg_dump.
 */
export async function compatiblePgDump(
  pool: pg.Pool,
  databaseUrl: string,
): Promise<{ output: string } | { skipped: string }> {
  const version = spawnSync("pg_dump", ["--version"], { encoding: "utf8" });
  const clientMajor = Number(/\b(\d+)\.\d+/.exec(version.stdout ?? "")?.[1] ?? Number.NaN);
  const server = await pool.query<{ v: string }>(
    "SELECT current_setting('server_version_num') AS v",
  );
  const serverMajor = Math.floor(Number(server.rows[0]?.v) / 10_000);
  if (!(clientMajor >= serverMajor)) {
    return { skipped: `pg_dump ${clientMajor || "missing"} cannot dump server ${serverMajor}` };
  }
  const dump = spawnSync("pg_dump", ["--data-only", `--dbname=${databaseUrl}`], {
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
  });
  if (dump.status !== 0) throw new Error(`pg_dump failed: ${dump.stderr}`);
  return { output: dump.stdout };
}
