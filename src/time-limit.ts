// Waiting on something that may never answer (a database that went silent), without hanging.

/**
 * The promise's value, or "timed_out" once `ms` have passed. The promise itself keeps running
 * (nothing can cancel a query on a dead socket); its late result or error is dropped.
 */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | "timed_out"> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timed_out">((resolve) => {
    timer = setTimeout(() => resolve("timed_out"), ms);
  });
  promise.catch(() => {}); // a late rejection must not become an unhandled one
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
