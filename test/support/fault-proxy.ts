// An HTTP proxy between the AWS SDK and the SQS emulator that misbehaves on request: server
// errors, throttling, partial DeleteMessageBatch failures, failed visibility extensions. The
// client and the emulator are real; only the network between them is made unreliable.
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface Fault {
  /** The SQS action (X-Amz-Target suffix, e.g. "ReceiveMessage"), or "*" for every action. */
  action: string;
  /**
   * What to do with a matching request, given how many matching requests came before and which
   * attempt of its call this is (the SDK's amz-sdk-request header; 1 = first try): "pass", an
   * HTTP error to answer with, or (DeleteMessageBatch only) "drop-half" to forward only the first
   * half of the entries and report the rest as failed.
   */
  respond: (
    count: number,
    attempt: number,
  ) => "pass" | "drop-half" | { status: number; code: string };
}

export interface FaultProxy {
  endpoint: string;
  faults: Fault[];
  /** Matching requests seen per action. */
  seen: Map<string, number>;
  close(): Promise<void>;
}

export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const target = new URL(upstream);
  const proxy: FaultProxy = { endpoint: "", faults: [], seen: new Map(), close: async () => {} };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const action =
        String(req.headers["x-amz-target"] ?? "")
          .split(".")
          .pop() ?? "";
      const fault = proxy.faults.find((f) => f.action === action || f.action === "*");
      const count = proxy.seen.get(action) ?? 0;
      proxy.seen.set(action, count + 1);
      const attempt = Number(
        /attempt=(\d+)/.exec(String(req.headers["amz-sdk-request"]))?.[1] ?? 1,
      );
      const decision = fault ? fault.respond(count, attempt) : "pass";
      let body = Buffer.concat(chunks);
      let dropped: { Id: string }[] = [];
      if (typeof decision === "object") {
        res.writeHead(decision.status, { "content-type": "application/x-amz-json-1.0" });
        res.end(JSON.stringify({ __type: decision.code, message: `injected ${decision.code}` }));
        return;
      }
      if (decision === "drop-half") {
        const parsed = JSON.parse(body.toString()) as { Entries: { Id: string }[] };
        const keep = Math.ceil(parsed.Entries.length / 2);
        dropped = parsed.Entries.slice(keep);
        parsed.Entries = parsed.Entries.slice(0, keep);
        body = Buffer.from(JSON.stringify(parsed));
      }
      const headers = { ...req.headers, "content-length": String(body.length), host: target.host };
      const upstreamReq = request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers },
        (upstreamRes) => {
          const out: Buffer[] = [];
          upstreamRes.on("data", (c: Buffer) => out.push(c));
          upstreamRes.on("end", () => {
            let payload = Buffer.concat(out);
            if (dropped.length > 0 && upstreamRes.statusCode === 200) {
              const parsed = JSON.parse(payload.toString()) as { Failed?: unknown[] };
              parsed.Failed = [
                ...(parsed.Failed ?? []),
                ...dropped.map((e) => ({
                  Id: e.Id,
                  Code: "InternalError",
                  SenderFault: false,
                  Message: "injected partial failure",
                })),
              ];
              payload = Buffer.from(JSON.stringify(parsed));
            }
            const outHeaders = { ...upstreamRes.headers, "content-length": String(payload.length) };
            res.writeHead(upstreamRes.statusCode ?? 502, outHeaders);
            res.end(payload);
          });
        },
      );
      upstreamReq.on("error", () => {
        res.writeHead(502);
        res.end();
      });
      upstreamReq.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  proxy.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return proxy;
}
