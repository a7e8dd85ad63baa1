// The run loop: poll → transform → write (one transaction per batch) → delete.
//
// Pollers feed a buffer; full (or lingering) buffers become batches; each batch is transformed,
// committed, and only then deleted from the queue. Backpressure: a poller asks for messages only
// while fewer than `maxInFlight` are held (received and not yet deleted), so memory stays flat
// however deep the queue is.
import type { Logger } from "./logger.js";
import { SQS_BATCH_MAX } from "./source/sqs-limits.js";
import { RunStats, type RunSummary, type StopReason } from "./summary.js";
import { checkpoint } from "./test-hooks.js";
import type {
  DeleteOutcome,
  ReceivedMessage,
  SinkItem,
  SinkOutcome,
  TransformResult,
} from "./types.js";

/** The stages, as functions, so the loop is independent of SQS and pg (and dry-run can swap). */
export interface Stages {
  receive(max: number, signal: AbortSignal): Promise<ReceivedMessage[]>;
  transform(message: ReceivedMessage): TransformResult;
  write(items: SinkItem[]): Promise<SinkOutcome>;
  delete(messages: ReceivedMessage[]): Promise<DeleteOutcome>;
  /** Told what is held from receive until deleted or given up on (visibility extension). */
  hold?: {
    track(messages: readonly ReceivedMessage[]): void;
    untrack(messages: readonly ReceivedMessage[]): void;
  };
}

export interface PipelineOptions {
  /** Concurrent long-pollers. */
  concurrency: number;
  /** Messages per transaction. */
  batchSize: number;
  /** Transactions in flight at once. */
  writeConcurrency: number;
  /** How long a partial batch waits for more messages before it is written anyway. */
  lingerMs: number;
  /**
   * Stop receiving while this many characters of message bodies are held. The count bound alone
   * would let 640 messages of 256 KiB (or 1 MiB) each pile up; this keeps memory flat for large
   * messages too. It can be exceeded by at most one receive per poller. A batch is also cut by
   * characters (see maxBatchChars), so what one transaction sends is bounded as well.
   */
  maxHeldChars: number;
  maxMessages: number | undefined;
  maxRuntimeSeconds: number | undefined;
  /**
   * Once the run stops (a limit, a signal, a failure), how long batches in flight may take to
   * finish. After that the run gives up on them: what they hold is abandoned to its visibility
   * timeout, and the run ends (exit 1), so neither --max-runtime nor SIGTERM waits on a
   * database that stopped answering.
   */
  stopGraceMs: number;
  dryRun: boolean;
  /** Called every progressIntervalMs with the counters so far (progress bar, periodic log). */
  onProgress?: ((summary: RunSummary) => void) | undefined;
  progressIntervalMs?: number | undefined;
}

export interface PipelineResult {
  summary: RunSummary;
  /** The error that stopped the run, if any (the messages it concerned were not deleted). */
  error: unknown;
}

export async function runPipeline(
  stages: Stages,
  options: PipelineOptions,
  logger: Logger,
  externalStop?: AbortSignal,
): Promise<PipelineResult> {
  return new Pipeline(stages, options, logger).run(externalStop);
}

class Pipeline {
  private readonly stats = new RunStats();
  private readonly stopping = new AbortController();
  private stopReason: StopReason | undefined;
  private error: unknown;
  /** Received and not yet finished with (buffered, being written, or being deleted). */
  private held = 0;
  /** Characters of body text held: bounds memory when messages are large, not just many. */
  private heldChars = 0;
  /** Receives under way, counted against capacity and --max-messages before they return. */
  private reserved = 0;
  /**
   * The body characters those receives may bring, estimated from the largest body seen so far:
   * with 256 KiB messages, eight pollers' receives alone would be 20 M characters beyond the
   * limit, so a receive must fit under it before it is made, not after it returns.
   */
  private reservedChars = 0;
  /** The largest body of each recent receive (one per poller): the estimate's basis. */
  private readonly recentLargest: number[] = [];
  private readonly maxInFlight: number;
  /** A batch is full at batchSize messages or at this many body characters, whichever first. */
  private readonly maxBatchChars: number;
  private buffer: ReceivedMessage[] = [];
  private lingerTimer: NodeJS.Timeout | undefined;
  private readonly batches = new Set<Promise<void>>();
  private readonly writeSlots: Semaphore;
  private capacityWaiters: (() => void)[] = [];
  private graceTimer: NodeJS.Timeout | undefined;
  private endGrace: () => void = () => {};
  // Not Promise.withResolvers: Node 20 lacks it.
  private readonly graceOver = new Promise<"grace_over">((resolve) => {
    this.endGrace = () => resolve("grace_over");
  });

  constructor(
    private readonly stages: Stages,
    private readonly options: PipelineOptions,
    private readonly logger: Logger,
  ) {
    this.writeSlots = new Semaphore(options.writeConcurrency);
    // Enough for every writer to be busy with a full batch while the next one fills and each
    // poller has a receive outstanding; more would only add memory and visibility-timeout risk.
    this.maxInFlight =
      options.batchSize * (options.writeConcurrency + 1) + options.concurrency * SQS_BATCH_MAX;
    // The same budget in characters: every writer busy with a full batch, one filling, and room
    // for the receives under way. A batch's parameters (sealed bodies, masked payloads) are then
    // a bounded multiple of this, whatever the messages hold.
    this.maxBatchChars = Math.floor(options.maxHeldChars / (options.writeConcurrency + 2));
  }

  async run(externalStop?: AbortSignal): Promise<PipelineResult> {
    const onExternalStop = () => this.stop("signal");
    externalStop?.addEventListener("abort", onExternalStop, { once: true });
    if (externalStop?.aborted) this.stop("signal");
    const { onProgress } = this.options;
    const ticker = onProgress
      ? setInterval(
          () => onProgress(this.stats.summarize(this.stopReason ?? "drained", this.options.dryRun)),
          this.options.progressIntervalMs ?? 1_000,
        )
      : undefined;
    const deadline =
      this.options.maxRuntimeSeconds === undefined
        ? undefined
        : setTimeout(() => this.stop("max_runtime"), this.options.maxRuntimeSeconds * 1_000);
    try {
      const finished = this.finish();
      if ((await Promise.race([finished, this.graceOver])) === "grace_over") {
        this.abandon();
      }
    } finally {
      clearTimeout(deadline);
      clearTimeout(this.graceTimer);
      clearInterval(ticker);
      clearTimeout(this.lingerTimer);
      externalStop?.removeEventListener("abort", onExternalStop);
    }
    const reason = this.stopReason ?? "drained";
    return { summary: this.stats.summarize(reason, this.options.dryRun), error: this.error };
  }

  /** Every poller done, then every batch written and deleted. */
  private async finish(): Promise<"finished"> {
    const pollers = Array.from({ length: this.options.concurrency }, () => this.poll());
    await Promise.all(pollers);
    // Every poller is done: whatever is buffered is written now, not after a linger.
    this.flush(true);
    while (this.batches.size > 0) await Promise.all(this.batches);
    return "finished";
  }

  /** The grace ran out with batches still under way: give up on what they hold. */
  private abandon(): void {
    this.stats.abandoned = this.held;
    this.fail(
      new StopGraceError(
        `${this.held} received message(s) were still being written ${this.options.stopGraceMs / 1_000} s ` +
          "after the run stopped (their write did not finish in time: the database, or the PII vault's " +
          "sealing thread, did not answer). They are no longer kept " +
          "invisible and return to the queue after their visibility timeout; the next run loads " +
          "them, and the ledger skips any whose transaction did commit.",
      ),
    );
  }

  private stop(reason: StopReason): void {
    if (this.stopReason === undefined) {
      this.stopReason = reason;
      if (reason !== "error") this.logger.info({ reason }, "stopping: no more receives");
      this.graceTimer = setTimeout(() => this.endGrace(), this.options.stopGraceMs);
    }
    this.stopping.abort();
    this.wakeCapacityWaiters();
  }

  private fail(err: unknown): void {
    if (this.error === undefined) this.error = err;
    this.stop("error");
  }

  // ---- source ---------------------------------------------------------------------------

  private async poll(): Promise<void> {
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      const { want, estimate } = await this.reserve();
      if (want === 0) {
        // Either stopping, or --max-messages is fully received or reserved by other pollers.
        const { maxMessages } = this.options;
        if (maxMessages !== undefined && this.stats.received >= maxMessages) {
          this.stop("max_messages");
        }
        return;
      }
      let messages: ReceivedMessage[];
      try {
        messages = await this.stages.receive(want, signal);
      } catch (err) {
        this.fail(err);
        return;
      } finally {
        this.reserved -= want;
        this.reservedChars -= want * estimate;
      }
      this.noteLargestBody(messages);
      if (messages.length === 0) {
        this.wakeCapacityWaiters(); // its reserved characters are free again
        // An empty long poll while we hold nothing: the queue is drained as far as this poller
        // can tell. While we hold messages, emptiness may only mean they are invisible to us.
        if (this.held === 0) return;
        continue;
      }
      this.stages.hold?.track(messages);
      await checkpoint("after_receive");
      this.stats.received += messages.length;
      this.held += messages.length;
      this.heldChars += bodyChars(messages);
      // Counted now, so a woken poller sees them: the estimate it replaces may have been larger.
      this.wakeCapacityWaiters();
      this.buffer.push(...messages);
      this.flush(false);
    }
  }

  private nextReceiveSize(): number {
    const { maxMessages } = this.options;
    if (maxMessages === undefined) return SQS_BATCH_MAX;
    return Math.max(0, Math.min(SQS_BATCH_MAX, maxMessages - this.stats.received - this.reserved));
  }

  /**
   * Wait until a receive fits under maxInFlight (and --max-messages), then reserve it; 0 means
   * stop polling. Check and reservation happen in one tick, so pollers woken together cannot
   * both squeeze into the same room.
   */
  private async reserve(): Promise<{ want: number; estimate: number }> {
    for (;;) {
      if (this.stopping.signal.aborted) return { want: 0, estimate: 0 };
      const want = this.nextReceiveSize();
      if (want === 0) return { want: 0, estimate: 0 };
      const estimate = Math.max(INITIAL_BODY_ESTIMATE, ...this.recentLargest);
      const fits = this.held + this.reserved + want <= this.maxInFlight;
      const chars = this.heldChars + this.reservedChars;
      // With nothing held or under way, one receive always fits, however large its bodies.
      const room = chars === 0 || chars + want * estimate <= this.options.maxHeldChars;
      if (fits && room) {
        this.reserved += want;
        this.reservedChars += want * estimate;
        return { want, estimate };
      }
      await new Promise<void>((resolve) => this.capacityWaiters.push(resolve));
    }
  }

  private noteLargestBody(messages: readonly ReceivedMessage[]): void {
    let largest = 0;
    for (const m of messages) largest = Math.max(largest, m.body.length);
    if (messages.length === 0) return;
    this.recentLargest.push(largest);
    if (this.recentLargest.length > this.options.concurrency) this.recentLargest.shift();
  }

  private wakeCapacityWaiters(): void {
    const waiters = this.capacityWaiters;
    this.capacityWaiters = [];
    for (const wake of waiters) wake();
  }

  // ---- batching -------------------------------------------------------------------------

  /** Cut full batches; a partial one is cut after lingerMs, or at once when `force`. */
  private flush(force: boolean): void {
    for (let batch = this.takeFullBatch(); batch; batch = this.takeFullBatch()) {
      this.startBatch(batch);
    }
    clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    if (this.buffer.length === 0) return;
    if (force) {
      this.startBatch(this.buffer.splice(0));
    } else {
      this.lingerTimer = setTimeout(() => this.flush(true), this.options.lingerMs);
    }
  }

  /**
   * The buffer's first full batch: batchSize messages, or fewer when one more would pass
   * maxBatchChars (a single larger message is a batch of its own). Undefined if none is full.
   */
  private takeFullBatch(): ReceivedMessage[] | undefined {
    let chars = 0;
    for (const [i, message] of this.buffer.entries()) {
      if (i > 0 && chars + message.body.length > this.maxBatchChars)
        return this.buffer.splice(0, i);
      chars += message.body.length;
      if (i + 1 === this.options.batchSize) return this.buffer.splice(0, i + 1);
    }
    return undefined;
  }

  private startBatch(batch: ReceivedMessage[]): void {
    const done = this.processBatch(batch).finally(() => {
      this.stages.hold?.untrack(batch);
      this.batches.delete(done);
      this.held -= batch.length;
      this.heldChars -= bodyChars(batch);
      this.wakeCapacityWaiters();
    });
    this.batches.add(done);
  }

  // ---- transform → sink → delete ----------------------------------------------------------

  private async processBatch(batch: ReceivedMessage[]): Promise<void> {
    const release = await this.writeSlots.acquire();
    let committed: SinkOutcome;
    try {
      // After a fatal error nothing more is written; these messages stay in the queue and
      // come back after their visibility timeout.
      if (this.error !== undefined) return;
      const items = batch.map((message) => ({ message, result: this.stages.transform(message) }));
      committed = await this.stages.write(items);
      for (const item of items) {
        if (item.result.kind === "row") this.stats.addDroppedFields(item.result.droppedFields);
      }
    } catch (err) {
      this.fail(err);
      return;
    } finally {
      release();
    }
    this.stats.inserted += committed.inserted;
    this.stats.duplicates += committed.duplicates;
    this.stats.addRejected(committed.rejected);
    await checkpoint("after_commit");

    const deleted = await this.stages.delete(batch);
    this.stats.deleted += deleted.deleted;
    this.stats.deleteFailed += deleted.failed;
    this.stats.staleReceipts += deleted.stale;
    this.stats.batchDone();
    this.logger.debug(
      { size: batch.length, inserted: committed.inserted, deleted: deleted.deleted },
      "batch committed and deleted",
    );
  }
}

/**
 * What a body is assumed to weigh before any has been seen: small messages (the usual ~200
 * characters) then never wait on the character budget, and eight pollers can start at once.
 */
const INITIAL_BODY_ESTIMATE = 16 * 1024;

/** The run gave up on batches that did not finish within the stop grace. */
export class StopGraceError extends Error {
  override name = "StopGraceError";
}

function bodyChars(messages: readonly ReceivedMessage[]): number {
  let n = 0;
  for (const m of messages) n += m.body.length;
  return n;
}

/** A counting semaphore: at most `permits` holders at once, served in arrival order. */
class Semaphore {
  private waiters: (() => void)[] = [];
  constructor(private permits: number) {}

  async acquire(): Promise<() => void> {
    if (this.permits > 0) {
      this.permits--;
    } else {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next) next();
      else this.permits++;
    };
  }
}
