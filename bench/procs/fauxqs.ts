// The SQS emulator in a process of its own, so its CPU is not shared with the orchestrator or a
// contender, and can be measured on its own.
//
// Why not fauxqs's own CLI (node_modules/fauxqs/dist/cli.js): it calls startFauxqs({ logger: true }),
// which wins over FAUXQS_LOGGER=false, so every request would be logged by pino (fauxqs 1.9.2).
// That is CPU taken from the emulator, i.e. from every contender's throughput.
import { startFauxqs } from "fauxqs";

const port = Number(process.env.FAUXQS_PORT ?? 4566);
const server = await startFauxqs({ port, logger: false });

// A normal exit (not a kill) lets `node --cpu-prof` write its profile.
const stop = () => {
  server.stop().finally(() => process.exit(0));
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
