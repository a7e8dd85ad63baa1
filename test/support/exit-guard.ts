// Preloaded into every test file's process by test/run.ts (NODE_OPTIONS=--import). A test file
// ends when node's runner has run everything; a `process.exit()` with success before that (a
// library's exit hook, a stray exit in a test or between declarations) would hide every test not
// yet declared or finished, so an explicit exit with code 0 becomes exit code 1, with the reason.
// Exits with a failure code, and the natural end of the process, are left alone.
const exit = process.exit.bind(process);
process.exit = ((code?: number | string | null) => {
  const effective = code ?? process.exitCode ?? 0;
  if (Number(effective) === 0) {
    process.stderr.write(
      "exit-guard: process.exit() with success inside a test file; its remaining tests never ran\n",
    );
    return exit(1);
  }
  return exit(code ?? undefined);
}) as typeof process.exit;
