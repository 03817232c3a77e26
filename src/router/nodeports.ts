// Node ports: which port each NodePort (or LoadBalancer) Service port is served on besides
// its own. A port's `nodePort` when set; otherwise one from 30000-32767 chosen from a hash of
// `<namespace>/<name>:<port>` (the same every time), moved on past ports already taken.
import { exposesNodePorts, isHeadless, NODE_PORT_MAX, NODE_PORT_MIN } from '../api/index.js';
import type { RouterService } from './table.js';

/** FNV-1a, 32 bits. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** `<namespace>/<name>:<port>` → node port, for every Service that exposes node ports. */
export function allocateNodePorts(services: Iterable<RouterService>): Map<string, number> {
  const out = new Map<string, number>();
  const taken = new Set<number>();
  const wanting: string[] = [];
  const list = [...services].filter((s) => exposesNodePorts(s.spec) && !isHeadless(s.spec));
  for (const s of list) {
    const id = `${s.metadata.namespace ?? 'default'}/${s.metadata.name}`;
    for (const p of s.spec.ports) {
      const key = `${id}:${p.port}`;
      if (typeof p.nodePort === 'number' && !taken.has(p.nodePort)) {
        out.set(key, p.nodePort);
        taken.add(p.nodePort);
      } else {
        wanting.push(key);
      }
    }
  }
  const size = NODE_PORT_MAX - NODE_PORT_MIN + 1;
  for (const key of wanting.sort()) {
    if (taken.size >= size) break;
    let n = NODE_PORT_MIN + (hash(key) % size);
    while (taken.has(n)) n = n === NODE_PORT_MAX ? NODE_PORT_MIN : n + 1;
    out.set(key, n);
    taken.add(n);
  }
  return out;
}
