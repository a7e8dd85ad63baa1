// The embedded services come from dev dependencies: a production install
// (`npm ci --omit=dev`) does not carry the Postgres binaries or the SQS emulator, and the demo
// says so clearly instead of failing with a stack trace.
export class MissingDevDependencyError extends Error {
  override name = "MissingDevDependencyError";
}

export async function importDev<T>(name: string): Promise<T> {
  try {
    return (await import(name)) as T;
  } catch (err) {
    if ((err as { code?: string }).code === "ERR_MODULE_NOT_FOUND") throw notInstalled(name);
    throw err;
  }
}

export function notInstalled(name: string): MissingDevDependencyError {
  return new MissingDevDependencyError(
    `${name} is not installed. The demo, tests and benchmark need the dev dependencies: ` +
      "run `npm install` in the repository (not `npm ci --omit=dev`).",
  );
}
