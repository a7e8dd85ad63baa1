// Canonical text form of an IP address, so that one address always yields one
// mask however the producer happened to spell it.

import { isIPv4, isIPv6 } from "node:net";
import ipaddr from "ipaddr.js";

// A dotted quad at the end of an IPv6 address ("::ffff:1.2.3.4").
const EMBEDDED_IPV4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/;

/**
 * Returns the canonical form of an IP address, or null if `s` is not one.
 *
 * - IPv4: strict dotted quad only. node:net's isIPv4 rejects leading zeros
 *   ("010.1.1.1" could mean octal 8 to some parsers), shorthand ("127.1") and
 *   hex ("0x7f.0.0.1"), checked on Node 20. A string it accepts is already
 *   canonical, so it is returned as is.
 * - IPv6: RFC 5952 form (lower case, longest zero run compressed).
 * - IPv4-mapped IPv6 (::ffff:a.b.c.d) is the IPv4 address a.b.c.d: the same
 *   client seen via a dual-stack socket must get the same mask.
 * - Zone ids ("fe80::1%eth0") are rejected: they name a local interface of the
 *   observing host, not part of the client's address.
 * - Surrounding whitespace is rejected, not trimmed: a malformed value is a
 *   producer bug we want to see, and isIPv4/isIPv6 already refuse it.
 */
export function canonicalizeIp(s: string): string | null {
  if (isIPv4(s)) return s;
  // isIPv6 accepts zone ids, hence the explicit '%' check.
  if (!isIPv6(s) || s.includes("%")) return null;

  // ipaddr.js parses "::a.b.c.d" (IPv4-compatible, parts 0:0:0:0:0:0:x:y) as if
  // it were "::ffff:a.b.c.d" (mapped), which would wrongly turn it into an IPv4.
  // So rewrite any embedded dotted quad as two hex groups first; isIPv6 above
  // has already checked that the quad is strict (each octet 0-255, no leading zeros).
  const hexOnly = s.replace(EMBEDDED_IPV4, (_m, a: string, b: string, c: string, d: string) => {
    const hi = (Number(a) << 8) | Number(b);
    const lo = (Number(c) << 8) | Number(d);
    return `${hi.toString(16)}:${lo.toString(16)}`;
  });

  let addr: ipaddr.IPv6;
  try {
    addr = ipaddr.IPv6.parse(hexOnly);
  } catch {
    // Should not happen after isIPv6, but a parser disagreement must not throw.
    return null;
  }
  if (addr.isIPv4MappedAddress()) return addr.toIPv4Address().toString();
  return addr.toRFC5952String();
}
