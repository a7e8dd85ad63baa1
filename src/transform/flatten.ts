// Flatten nested JSON objects into one level: {"device":{"type":"ios"}} → device_type.
// Producers have sent both shapes; flattening lets one validator handle both.

/** Deepest object nesting accepted, counting the top-level object as level 1. */
export const MAX_DEPTH = 32;

export type FlattenResult =
  | { ok: true; fields: Map<string, unknown> }
  | { ok: false; reason: "too_deeply_nested" }
  | { ok: false; reason: "invalid_field_type"; duplicateKey: string };

/** A plain JSON object (not null, not an array). */
export function isJsonObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

interface Frame {
  prefix: string;
  obj: Record<string, unknown>;
  keys: string[];
  next: number;
  depth: number;
}

/**
 * Flatten `root`, joining nested keys with "_".
 *
 * Hostile input is expected (the queue accepts anything):
 * - Results go into a Map, never a plain object, so keys such as "__proto__",
 *   "constructor" or "prototype" are just strings and cannot reach any prototype.
 *   (JSON.parse itself creates "__proto__" as an ordinary own property.)
 * - The walk uses an explicit stack, and refuses to go deeper than MAX_DEPTH,
 *   so no input can overflow the call stack however deep it nests.
 *
 * Leaves: arrays and primitives are leaf values (validation rejects arrays in
 * known fields later). An empty object is also kept as a leaf, so {"ip":{}}
 * reaches the validator as a wrong-typed ip instead of silently vanishing.
 *
 * Two paths flattening to the same key ({"device_type":"x","device":{"type":"y"}})
 * are rejected. Keeping either value would be a silent guess about which one
 * the producer meant. No RejectReason names this exactly; "invalid_field_type"
 * is the closest (the field's value is not one well-typed value but two), and
 * the detail says what happened. Applied to unknown keys too, for one rule.
 */
export function flatten(root: Record<string, unknown>): FlattenResult {
  const fields = new Map<string, unknown>();
  const stack: Frame[] = [{ prefix: "", obj: root, keys: Object.keys(root), next: 0, depth: 1 }];

  for (let top = stack.at(-1); top !== undefined; top = stack.at(-1)) {
    const key = top.keys[top.next];
    if (key === undefined) {
      stack.pop();
      continue;
    }
    top.next++;
    const name = top.depth === 1 ? key : `${top.prefix}_${key}`;
    const value = top.obj[key];

    if (isJsonObject(value)) {
      // Checked before descending, so the stack never grows past MAX_DEPTH frames.
      if (top.depth + 1 > MAX_DEPTH) return { ok: false, reason: "too_deeply_nested" };
      const keys = Object.keys(value);
      if (keys.length > 0) {
        stack.push({ prefix: name, obj: value, keys, next: 0, depth: top.depth + 1 });
        continue;
      }
    }
    if (fields.has(name)) return { ok: false, reason: "invalid_field_type", duplicateKey: name };
    fields.set(name, value);
  }
  return { ok: true, fields };
}
