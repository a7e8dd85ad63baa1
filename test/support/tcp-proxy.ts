// A TCP proxy in front of Postgres that can go silent: after the first COMMIT has been answered
// it forwards nothing more in either direction and accepts new connections without ever
// answering them, while keeping every socket open. That is what a dropped NAT entry or a frozen
// network path looks like to a client: no error, no reset, just no answer.

import type { AddressInfo } from "node:net";
import { connect, createServer, type Server, type Socket } from "node:net";

export interface SilentProxy {
  /** `databaseUrl` with its host and port replaced by the proxy's. */
  url: string;
  /** True once the proxy went silent. */
  readonly silent: boolean;
  close(): Promise<void>;
}

// The simple-query message for COMMIT: 'Q', length, "COMMIT", NUL.
const COMMIT = Buffer.from("COMMIT\0");

export async function startSilentAfterCommit(databaseUrl: string): Promise<SilentProxy> {
  const target = new URL(databaseUrl);
  const sockets = new Set<Socket>();
  let commitSeen = false;
  let silent = false;
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    client.on("error", () => {});
    if (silent) return; // accepted, never answered
    const upstream = connect(Number(target.port), target.hostname);
    sockets.add(upstream);
    upstream.on("close", () => sockets.delete(upstream));
    upstream.on("error", () => {});
    client.on("data", (chunk: Buffer) => {
      if (silent) return;
      if (chunk.includes(COMMIT)) commitSeen = true;
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      if (silent) return;
      client.write(chunk);
      // The answer to the first COMMIT went through; from now on, silence.
      if (commitSeen) silent = true;
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const url = new URL(databaseUrl);
  url.hostname = "127.0.0.1";
  url.port = String(port);
  return {
    url: url.href,
    get silent() {
      return silent;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
