// Summarising a V8 .cpuprofile (written by `node --cpu-prof`): where the samples fall, by
// function (self time) and by category. A sample's category comes from its stack: the leaf decides
// for V8's pseudo-frames (idle, GC, program); otherwise the nearest frame, walking from the leaf
// towards the root, that belongs to a known owner (the AWS SDK, pg, a login-etl module…). So the
// time node:crypto spends inside an HMAC called from mask.js counts as "HMAC masking", and the same
// crypto code called by the SDK's request signer counts as "SQS client".
import { readFileSync } from "node:fs";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface Category {
  name: string;
  /** Returns true if this frame is owned by the category. */
  owns(frame: CallFrame): boolean;
}

export interface ProfileSummary {
  totalMs: number;
  /** Inclusive time of each probe: samples with a matching frame anywhere on their stack. */
  probes: { probe: string; ms: number; share: number }[];
  byCategory: { category: string; ms: number; share: number }[];
  topFunctions: { fn: string; where: string; selfMs: number; share: number }[];
}

// A Map, not an object literal: a function named "toString" must not find Object.prototype's.
const pseudo = new Map([
  ["(idle)", "idle (waiting for I/O)"],
  ["(garbage collector)", "garbage collection"],
  ["(program)", "V8/native, unattributed"],
]);

export function summarizeProfile(
  file: string,
  categories: Category[],
  probes: Record<string, RegExp>,
  repoRoot: string,
  top = 15,
): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  // Self time per node: the time until the next sample is charged to this sample's node.
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    if (id === undefined) continue;
    const dt = profile.timeDeltas[i + 1] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, dt));
  }
  const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0);

  const categoryOf = (id: number): string => {
    const leaf = byId.get(id);
    if (!leaf) return "other";
    const special = pseudo.get(leaf.callFrame.functionName);
    if (special) return special;
    let owner: string | undefined;
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)?.callFrame;
      if (!frame) break;
      owner = categories.find((c) => c.owns(frame))?.name;
      if (owner) break;
    }
    // JSON.parse is a builtin (no url); say whose JSON it parsed: bodies, SDK responses…
    if (isJsonParse(leaf.callFrame)) return `JSON.parse, called by: ${owner ?? "other"}`;
    if (owner) return owner;
    return leaf.callFrame.url.startsWith("node:") ? "node internals, other" : "other";
  };

  const byCategory = new Map<string, number>();
  const byFunction = new Map<string, { fn: string; where: string; us: number }>();
  for (const [id, us] of selfUs) {
    const cat = categoryOf(id);
    byCategory.set(cat, (byCategory.get(cat) ?? 0) + us);
    const frame = byId.get(id)?.callFrame;
    if (!frame) continue;
    const where = frame.url
      ? `${shorten(frame.url, repoRoot)}:${frame.lineNumber + 1}`
      : "(native)";
    const key = `${frame.functionName}@${where}`;
    const entry = byFunction.get(key) ?? { fn: frame.functionName || "(anonymous)", where, us: 0 };
    entry.us += us;
    byFunction.set(key, entry);
  }
  const share = (us: number) => (totalUs > 0 ? us / totalUs : 0);
  const probeUs = Object.keys(probes).map(() => 0);
  const probeList = Object.values(probes);
  for (const [id, us] of selfUs) {
    const frames: string[] = [];
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const f = byId.get(at)?.callFrame;
      if (f) frames.push(`${f.functionName} ${f.url}`);
    }
    probeList.forEach((re, i) => {
      if (frames.some((f) => re.test(f))) probeUs[i] = (probeUs[i] ?? 0) + us;
    });
  }
  return {
    totalMs: totalUs / 1000,
    probes: Object.keys(probes).map((probe, i) => ({
      probe,
      ms: (probeUs[i] ?? 0) / 1000,
      share: share(probeUs[i] ?? 0),
    })),
    byCategory: [...byCategory]
      .sort((a, b) => b[1] - a[1])
      .map(([category, us]) => ({ category, ms: us / 1000, share: share(us) })),
    topFunctions: [...byFunction.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => ({ fn: f.fn, where: f.where, selfMs: f.us / 1000, share: share(f.us) })),
  };
}

const isJsonParse = (f: CallFrame) => f.functionName === "parse" && f.url === "";

function shorten(url: string, repoRoot: string): string {
  const path = url.replace(/^file:\/\//, "");
  const nm = path.lastIndexOf("/node_modules/");
  if (nm >= 0) return path.slice(nm + "/node_modules/".length);
  return path.startsWith(repoRoot) ? path.slice(repoRoot.length) : path;
}

const inPackage =
  (...names: string[]) =>
  (f: CallFrame) =>
    names.some((n) => f.url.includes(`/node_modules/${n}/`));
const inRepo = (dir: string) => (f: CallFrame) =>
  f.url.includes(`/dist/${dir}`) && !f.url.includes("/node_modules/");

/** Categories for login-etl's process. Order matters: the first owner found up the stack wins. */
export const ETL_CATEGORIES: Category[] = [
  { name: "HMAC masking (transform/mask)", owns: inRepo("src/transform/mask") },
  { name: "transform: validate, flatten, ip, version", owns: inRepo("src/transform/") },
  {
    name: "SQS client (AWS SDK: serialize, sign, parse, md5)",
    owns: inPackage("@aws-sdk", "@smithy", "@aws-crypto"),
  },
  {
    name: "pg driver (protocol, parsing)",
    owns: inPackage("pg", "pg-protocol", "pg-pool", "pg-types"),
  },
  { name: "logging (pino)", owns: inPackage("pino", "pino-pretty", "sonic-boom", "thread-stream") },
  { name: "sink: building batch parameters", owns: inRepo("src/sink/") },
  { name: "pipeline, receiver, deleter", owns: inRepo("src/") },
  { name: "module loading/startup", owns: (f) => f.url.startsWith("node:internal/modules") },
  {
    name: "node http/net/streams (unowned)",
    owns: (f) => /^node:(_http|http|net|internal\/(http|streams|stream_base))/.test(f.url),
  },
];

/** Inclusive probes into the SQS client and login-etl's stages (a sample may count in several). */
export const ETL_PROBES: Record<string, RegExp> = {
  "SDK: SigV4 signing": /@smithy\/signature-v4|httpAuthSchemes/,
  "SDK: endpoint resolution": /submodules\/endpoints|util-endpoints|endpointV2/,
  "SDK: MD5 check of received/sent bodies": /middleware-sdk-sqs/,
  "SDK: logger middleware (filters every input/output)": /loggerMiddleware|schemaLogFilter/,
  "SDK: retry middleware": /submodules\/retry/,
  "node http client (request/response)":
    /node-http-handler|node:_http_(client|outgoing|agent|common)/,
  "pg driver": /\/node_modules\/pg(-protocol|-pool|-types)?\//,
  "HMAC masking": /dist\/src\/transform\/mask\.js/,
  "transform (parse, validate, mask)": /dist\/src\/transform\//,
};
