// A fresh database per contender run (nothing left over from the previous contender: no rows,
// no ledger, no dead tuples), and the row counts the correctness check needs.
import pg from "pg";

export interface FreshDatabase {
  url: string;
  drop(): Promise<void>;
}

let serial = 0;

export async function freshDatabase(serverUrl: string): Promise<FreshDatabase> {
  const name = `bench_${process.pid}_${++serial}`;
  await admin(serverUrl, `CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => admin(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

async function admin(serverUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

export interface Counts {
  /** Rows in user_logins (undefined if the table does not exist). */
  rows: number | undefined;
  /** Rows in etl.rejected_messages (undefined if the table does not exist). */
  rejected: number | undefined;
  /** Rows in the ledger, one per distinct MessageId committed (undefined if no table). */
  ledger: number | undefined;
}

export async function counts(url: string): Promise<Counts> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const count = async (table: string) => {
      const exists = await client.query<{ t: string | null }>("SELECT to_regclass($1) AS t", [
        table,
      ]);
      if (!exists.rows[0]?.t) return undefined;
      const { rows } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
      return rows[0]?.n;
    };
    return {
      rows: await count("user_logins"),
      rejected: await count("etl.rejected_messages"),
      ledger: await count("etl.processed_messages"),
    };
  } finally {
    await client.end();
  }
}

export interface VaultStats {
  /** Rows in etl.pii_vault: one per distinct (field, mask) the run sealed. */
  rows: number;
  /** count(DISTINCT masked_ip) + count(DISTINCT masked_device_id) of user_logins. */
  distinctMasks: number;
  /** pg_total_relation_size('etl.pii_vault'): heap, TOAST and its three indexes, as the run left them. */
  totalBytes: number;
  /** pg_indexes_size('etl.pii_vault'): its one index, the primary key (mask, field). */
  indexBytes: number;
  /** Mean octet_length(sealed): version, nonce, tag and the ciphertext. */
  avgSealedBytes: number | undefined;
}

export async function vaultStats(url: string): Promise<VaultStats> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<VaultStats>(`
      SELECT (SELECT count(*) FROM etl.pii_vault)::int AS "rows",
             (SELECT count(DISTINCT masked_ip) + count(DISTINCT masked_device_id)
                FROM user_logins)::int AS "distinctMasks",
             pg_total_relation_size('etl.pii_vault')::float8 AS "totalBytes",
             pg_indexes_size('etl.pii_vault')::float8 AS "indexBytes",
             (SELECT avg(octet_length(sealed)) FROM etl.pii_vault)::float8 AS "avgSealedBytes"`);
    const [found] = rows;
    if (!found) throw new Error("the vault query returned no row");
    return { ...found, avgSealedBytes: found.avgSealedBytes ?? undefined };
  } finally {
    await client.end();
  }
}
