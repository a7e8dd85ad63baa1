// Who seals a batch's vault entries: `etl run` hands them to a worker thread, everything else
// seals them in place.
//
// Why a thread: during a drain the run's main thread is the bottleneck (it receives, masks,
// encodes and decodes for every message), and AES-GCM of some 300 short values per batch, each
// with a cipher object of its own, was half of the CPU the vault added to it: the run with the
// vault on was 0.89-0.91x as fast as without, 0.965x with sealing made free (an experiment), and
// is 0.92x with this thread on two cores it shares with Postgres (README "The PII vault's cost").
// The batch waits for its entries while the main thread goes on with receives and other batches.
//
// One worker, not a pool: the pipeline writes at most writeConcurrency batches at once, and one
// thread seals faster than one connection commits. The worker holds its own copy of the vault
// key (workerData) and answers with sealed bytes only; an error it reports carries the message
// of the sealing error (which names no value), nothing of the entries.
import { Worker } from "node:worker_threads";
import { keyFingerprint } from "../pii-key.js";
import { VAULT_FIELDS, type VaultCipher, type VaultPlaintext } from "./vault-cipher.js";

/** A batch's sealed values, in the order given: one buffer, and each value's length in it. */
export interface SealedValues {
  bytes: Buffer;
  lengths: ArrayLike<number>;
}

export interface VaultSealer {
  /** The vault key's fingerprint, stored beside every value it sealed. */
  readonly fingerprint: string;
  seal(entries: readonly VaultPlaintext[]): Promise<SealedValues>;
}

/**
 * The sealed values in one buffer, with their lengths, both in buffers of their own (so the
 * thread can move them). Not Buffer.concat: a small result would be a view of Node's shared pool.
 */
export function packSealed(sealed: readonly Buffer[]): Packed {
  const lengths = Uint32Array.from(sealed, (s) => s.length);
  const bytes = new Uint8Array(lengths.reduce((a, b) => a + b, 0));
  let at = 0;
  for (const s of sealed) {
    bytes.set(s, at);
    at += s.length;
  }
  return { bytes, lengths };
}

interface Packed {
  bytes: Uint8Array<ArrayBuffer>;
  lengths: Uint32Array<ArrayBuffer>;
}

const asSealedValues = ({ bytes, lengths }: Packed): SealedValues => ({
  bytes: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
  lengths,
});

/** Sealing on the calling thread: for commands that seal a few values, or rarely. */
export function sealInPlace(cipher: VaultCipher): VaultSealer {
  return {
    fingerprint: cipher.fingerprint,
    seal: async (entries) => asSealedValues(packSealed(cipher.sealAll(entries))),
  };
}

/**
 * What the worker is asked: a batch's entries as a few flat values, not an object per entry,
 * because copying hundreds of small objects to the thread cost the main thread a third of what
 * sealing there had (the fields by index in VAULT_FIELDS, the 64-character masks joined, the
 * values joined with each one's length in UTF-16 units).
 */
export interface SealRequest {
  id: number;
  fields: Uint8Array<ArrayBuffer>;
  masks: string;
  values: string;
  valueLengths: Uint32Array<ArrayBuffer>;
}

/** ...and answers: the sealed bytes and their lengths (both moved, not copied), or why not. */
export type SealReply = ({ id: number } & Packed) | { id: number; error: string };

const MASK_CHARS = 64;

export function encodeSealRequest(id: number, entries: readonly VaultPlaintext[]): SealRequest {
  const fields = new Uint8Array(entries.length);
  const valueLengths = new Uint32Array(entries.length);
  const masks: string[] = [];
  const values: string[] = [];
  entries.forEach((e, i) => {
    const field = VAULT_FIELDS.indexOf(e.field);
    // Checked here, where the entry is whole: a wrong mask length would shift every later one.
    if (field < 0) throw new Error(`not a vault field: ${e.field}`);
    if (e.mask.length !== MASK_CHARS)
      throw new Error("a vault mask must be 64 lowercase hex digits");
    fields[i] = field;
    masks.push(e.mask);
    values.push(e.value);
    valueLengths[i] = e.value.length;
  });
  return { id, fields, masks: masks.join(""), values: values.join(""), valueLengths };
}

export function decodeSealRequest(request: SealRequest): VaultPlaintext[] {
  const entries: VaultPlaintext[] = [];
  let at = 0;
  request.fields.forEach((f, i) => {
    const field = VAULT_FIELDS[f];
    if (field === undefined) throw new Error(`not a vault field index: ${f}`);
    const length = request.valueLengths[i] ?? 0;
    entries.push({
      field,
      mask: request.masks.slice(MASK_CHARS * i, MASK_CHARS * (i + 1)),
      value: request.values.slice(at, at + length),
    });
    at += length;
  });
  return entries;
}

export interface SealWorker extends VaultSealer {
  /** Stops the thread; a seal still waiting fails. */
  close(): Promise<void>;
}

/** The sealing thread failed, did not start or did not answer: not the database's fault. */
export class SealingError extends Error {
  override name = "SealingError";
}

/** What the thread sends once its cipher is made, before any request. */
export const SEALER_READY = "ready";

/** Longest a start or one batch's seal may take; a batch's seal takes milliseconds. */
const SEAL_TIMEOUT_MS = 30_000;

/**
 * The key's bytes in a buffer of their own, for the thread: a small Buffer is a view of Node's
 * shared pool, where other secrets live (the hash key), and cloning a view copies the whole pool.
 */
export function ownBytes(key: Buffer): Uint8Array {
  return new Uint8Array(key);
}

/**
 * A worker thread sealing with this key; it resolves once the thread has made its cipher, so a
 * thread that cannot start fails the run before anything is received.
 */
export async function startSealWorker(vaultKey: Buffer): Promise<SealWorker> {
  const worker = new Worker(new URL("./vault-seal-worker.js", import.meta.url), {
    workerData: { vaultKey: ownBytes(vaultKey) },
    env: {}, // not process.env, which holds PII_HASH_KEY
  });
  interface Waiting {
    count: number;
    timer: NodeJS.Timeout;
    resolve: (s: SealedValues) => void;
    reject: (e: Error) => void;
  }
  const waiting = new Map<number, Waiting>();
  let failure: SealingError | undefined;
  let next = 0;
  // Settled by the thread's first message, or by its failure before that.
  let started: { resolve: () => void; reject: (e: Error) => void } | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    started = { resolve, reject };
  });
  const failAll = (err: SealingError) => {
    failure ??= err;
    started?.reject(failure);
    for (const w of waiting.values()) {
      clearTimeout(w.timer);
      w.reject(failure);
    }
    waiting.clear();
    worker.unref();
  };
  const answer = (reply: SealReply) => {
    const w = waiting.get(reply.id);
    if (!w) return;
    waiting.delete(reply.id);
    clearTimeout(w.timer);
    if (waiting.size === 0) worker.unref(); // idle: it never keeps the process alive
    if ("error" in reply) {
      w.reject(new SealingError(`sealing vault entries failed: ${reply.error}`));
      return;
    }
    // An answer that does not account for every entry would leave rows without entries.
    let total = 0;
    for (const length of reply.lengths) total += length;
    if (reply.lengths.length !== w.count || total !== reply.bytes.byteLength) {
      const wrong = new SealingError(
        "the PII vault's sealing thread answered with the wrong entries",
      );
      failAll(wrong);
      w.reject(wrong);
      void worker.terminate();
      return;
    }
    w.resolve(asSealedValues(reply));
  };
  worker.on("message", (message: SealReply | typeof SEALER_READY) => {
    if (message !== SEALER_READY) return answer(message);
    started?.resolve();
    started = undefined;
  });
  worker.on("error", (err) =>
    failAll(
      new SealingError(
        started
          ? // Before its first request the thread has seen no value: its error is safe to show.
            `the PII vault's sealing thread did not start: ${err.message}`
          : // After, its own error text is not shown: it could hold one.
            `the PII vault's sealing thread failed (${err.name})`,
      ),
    ),
  );
  worker.on("exit", (code) =>
    failAll(new SealingError(`the PII vault's sealing thread exited (code ${code})`)),
  );
  const startTimer = setTimeout(
    () =>
      failAll(
        new SealingError(
          `the PII vault's sealing thread did not start within ${SEAL_TIMEOUT_MS / 1000} s`,
        ),
      ),
    SEAL_TIMEOUT_MS,
  );
  try {
    await ready;
  } catch (err) {
    await worker.terminate();
    throw err;
  } finally {
    clearTimeout(startTimer);
  }
  worker.unref();
  return {
    fingerprint: keyFingerprint(vaultKey),
    seal(entries) {
      if (failure) return Promise.reject(failure);
      if (entries.length === 0) return Promise.resolve({ bytes: Buffer.alloc(0), lengths: [] });
      let request: SealRequest;
      try {
        request = encodeSealRequest(next++, entries);
      } catch (err) {
        return Promise.reject(err);
      }
      return new Promise<SealedValues>((resolve, reject) => {
        const timer = setTimeout(() => {
          failAll(
            new SealingError(
              `the PII vault's sealing thread did not answer within ${SEAL_TIMEOUT_MS / 1000} s`,
            ),
          );
          void worker.terminate();
        }, SEAL_TIMEOUT_MS);
        waiting.set(request.id, { count: entries.length, timer, resolve, reject });
        worker.ref(); // a seal under way keeps the process alive until it is answered
        worker.postMessage(request, [request.fields.buffer, request.valueLengths.buffer]);
      });
    },
    async close() {
      failAll(new SealingError("the PII vault's sealing thread was closed"));
      await worker.terminate();
    },
  };
}
