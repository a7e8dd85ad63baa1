// Realistic, reproducible login events shaped like the ones real queues hold, including the
// awkward ones: null locales, mixed version formats, repeated devices/IPs, wrong-shape bodies.
// Pure: the same seed gives the same bodies, so tests and benchmarks are repeatable.

const VERSIONS = ["2.3.0", "0.96", "2.00", "0.3.0", "5.2.8", "3.1.4", "2.10.1", "4"];
const DEVICE_TYPES = ["android", "ios"];
const LOCALES = ["RU", "US", "DE", "FR", "BR", "IN", "JP", "PH", "MX", "GB"];
/** About 1% of real messages are of another shape entirely. */
export const WRONG_SHAPE_BODY = '{"foo":"oops_wrong_msg_type","bar":"123"}';

export interface SampleOptions {
  count: number;
  seed?: number;
  /** Fraction of wrong-shape messages (default 0.01). */
  wrongShapeRate?: number;
}

/** mulberry32: tiny, fast, good enough for test data (not for anything secret). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export function generateSample(options: SampleOptions): string[] {
  const random = prng(options.seed ?? 42);
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;
  const hex = (n: number) => Array.from({ length: n }, () => int(16).toString(16)).join("");
  const uuid = () =>
    `${hex(8)}-${hex(4)}-4${hex(3)}-${pick(["8", "9", "a", "b"])}${hex(3)}-${hex(12)}`;
  const ip = () => `${1 + int(223)}.${int(256)}.${int(256)}.${int(256)}`;
  const deviceId = () =>
    `${String(int(1000)).padStart(3, "0")}-${String(int(100)).padStart(2, "0")}-${String(int(10_000)).padStart(4, "0")}`;

  // Returning users: a pool of devices and addresses that recur, so masked duplicates show up.
  const regulars = Array.from({ length: Math.max(5, Math.floor(options.count / 20)) }, () => ({
    user_id: uuid(),
    device_type: pick(DEVICE_TYPES),
    ip: ip(),
    device_id: deviceId(),
    locale: pick(LOCALES),
  }));
  const wrongShapeRate = options.wrongShapeRate ?? 0.01;

  const bodies: string[] = [];
  for (let i = 0; i < options.count; i++) {
    if (random() < wrongShapeRate) {
      bodies.push(WRONG_SHAPE_BODY);
      continue;
    }
    const regular = random() < 0.3 ? pick(regulars) : undefined;
    const event = {
      user_id: regular?.user_id ?? uuid(),
      app_version: pick(VERSIONS),
      device_type: regular?.device_type ?? pick(DEVICE_TYPES),
      ip: regular?.ip ?? ip(),
      locale: random() < 0.1 ? null : (regular?.locale ?? pick(LOCALES)),
      device_id: regular?.device_id ?? deviceId(),
    };
    bodies.push(JSON.stringify(event));
  }
  return bodies;
}
