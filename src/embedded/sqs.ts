// fauxqs, an SQS emulator that runs inside this process and speaks the JSON protocol over HTTP.
import { importDev } from "./missing.js";

export interface RunningSqs {
  endpoint: string;
  stop(): Promise<void>;
}

export async function startEmbeddedSqs(options: { port?: number } = {}): Promise<RunningSqs> {
  const { startFauxqs } = await importDev<typeof import("fauxqs")>("fauxqs");
  const server = await startFauxqs({ port: options.port ?? 0, logger: false });
  return {
    endpoint: `http://127.0.0.1:${server.port}`,
    stop: () => server.stop(),
  };
}
