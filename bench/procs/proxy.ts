// A delaying HTTP proxy: every request waits DELAY_MS before it is forwarded, so each SQS call
// pays a fixed latency like a real network hop to AWS (~20 ms), while the emulator stays local.
// Bodies are streamed both ways; upstream connections are kept alive so the delay is the only
// added cost, not a TCP handshake per request.
import { Agent, createServer, request } from "node:http";

const listenPort = Number(process.env.PROXY_PORT);
const target = new URL(process.env.PROXY_TARGET ?? "http://127.0.0.1:4566");
const delayMs = Number(process.env.DELAY_MS ?? 20);
const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });

const server = createServer((req, res) => {
  setTimeout(() => {
    const upstream = request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent,
      },
      (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        upstreamRes.pipe(res);
      },
    );
    upstream.on("error", (err) => {
      if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
      res.end(`proxy: ${err.message}`);
    });
    // The request body stays buffered in the socket until now; piping starts the upload.
    req.pipe(upstream);
  }, delayMs);
});
// Long polls hold a request open for seconds; never time them out here.
server.requestTimeout = 0;
server.keepAliveTimeout = 60_000;
server.listen(listenPort, "127.0.0.1");

process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
