// Pushing to a Prometheus Pushgateway over node:http, not prom-client's Pushgateway client: that
// one reads the whole response into a string (a large answer ran the process out of memory and
// crashed it after the run had finished), takes a redirect for success (nothing was pushed) and
// drops the URL's query string (an authenticating proxy's token). prom-client still renders the
// metrics (contract.ts).
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Registry } from "prom-client";

/** The Pushgateway job name; the queue is the grouping label. */
const PUSH_JOB = "login-etl";
/** How much of an error answer is quoted in the warning. */
const ERROR_EXCERPT_CHARS = 300;

/**
 * PUT replaces the group's metrics, POST only those with the names sent. Resolves on a 2xx
 * answer; anything else (a redirect included) rejects with what the server said, cut short.
 */
export async function pushToGateway(
  gatewayUrl: string,
  group: { queue: string },
  registry: Registry,
  method: "PUT" | "POST",
  signal: AbortSignal,
): Promise<void> {
  const url = new URL(gatewayUrl);
  const auth = url.username || url.password ? credentials(url) : undefined;
  // Never quoted back from an error answer: what we sent, in every form a server may echo it.
  const secrets = [
    url.username,
    url.password,
    ...(auth ? [auth, Buffer.from(auth).toString("base64")] : []),
    ...url.searchParams.values(),
  ].filter((secret) => secret.length >= 3);
  url.username = "";
  url.password = "";
  url.hash = "";
  const path = `/metrics/job/${encodeURIComponent(PUSH_JOB)}/queue/${encodeURIComponent(group.queue)}`;
  url.pathname = `${url.pathname.replace(/\/+$/, "")}${path}`;
  const body = await registry.metrics();
  const request = url.protocol === "https:" ? httpsRequest : httpRequest;
  await new Promise<void>((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        signal,
        ...(auth ? { auth } : {}),
        headers: {
          "Content-Type": registry.contentType,
          "Content-Length": Buffer.byteLength(body),
        },
      },
      (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) {
          // Accepted: the status says so, and the body is not needed.
          res.destroy();
          resolve();
          return;
        }
        let excerpt = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          excerpt += chunk;
          if (excerpt.length >= ERROR_EXCERPT_CHARS) res.destroy();
        });
        const fail = () => {
          const what =
            status >= 300 && status < 400
              ? "redirected; set --pushgateway-url to the address it redirects to"
              : scrub(excerpt, secrets).slice(0, ERROR_EXCERPT_CHARS); // scrubbed whole, then cut
          reject(new Error(`HTTP ${status}: ${what}`));
        };
        res.on("end", fail);
        res.on("close", fail); // destroyed after the excerpt, or cut off
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** `user:password` for basic auth, decoded; a raw `%` that is not an escape is a usage error. */
function credentials(url: URL): string {
  try {
    return `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  } catch {
    throw new Error(
      "the user name or password in the Pushgateway URL is not percent-encoded (write % as %25)",
    );
  }
}

/** An answer's text without our secrets, control characters or line breaks. */
function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join("***");
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
  return out.replace(/[\u0000-\u001f\u007f-\u009f]+/g, " ").trim();
}
