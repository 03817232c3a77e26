// Host ports for container ports that set no hostPort. Docker pods use the host's network and
// process pods listen on the host, so two pods of one image (both asking for 8080) would
// clash. The agent allocates, per node:
//
//   1. the port this container port had last time (a restarted container keeps its port),
//   2. else the containerPort itself,
//   3. else a port in HOST_PORT_RANGE picked by a hash of `<ns>/<pod>/<container>/<port>`,
//      then the next ones in the range, wrapping,
//
// skipping every port another container of this node holds (reserved before the bind check,
// so two creates at once never pick the same one) and every port the host cannot bind. The
// order depends only on the names, so the same pod gets the same port on the same node.
import { createHash } from 'node:crypto';
import type { ContainerRef } from './runtime.js';

/** Where allocated ports come from: below Kubernetes' NodePort range and the kernel's ephemeral ports. */
export const HOST_PORT_RANGE = { min: 20000, max: 29999 } as const;
/** How many ports of the range are tried before giving up. */
const MAX_TRIES = 256;
/** Keys whose last port is remembered (the oldest forgotten first). */
const REMEMBERED = 4096;

/** `<ns>/<pod>/<container>/<port name or number>`: what a port is allocated for. */
export function hostPortKey(ref: ContainerRef, port: { name?: string; containerPort: number }): string {
  return `${ref.namespace}/${ref.pod}/${ref.container}/${port.name ?? String(port.containerPort)}`;
}

/** The ports tried for `key`, in order, without the remembered one: the containerPort, then the range from the key's hash. */
export function candidatePorts(key: string, containerPort: number, range: { min: number; max: number } = HOST_PORT_RANGE, tries = MAX_TRIES): number[] {
  const size = range.max - range.min + 1;
  const start = createHash('sha256').update(key).digest().readUInt32BE(0) % size;
  const out: number[] = [];
  if (containerPort > 0 && containerPort <= 65535) out.push(containerPort);
  for (let i = 0; i < Math.min(tries, size); i++) {
    const port = range.min + ((start + i) % size);
    if (port !== containerPort) out.push(port);
  }
  return out;
}

export interface HostPortAllocatorOptions {
  /** Whether the host can bind `port` now. */
  isFree: (port: number) => Promise<boolean>;
  range?: { min: number; max: number };
  /** Ports below this are skipped unless asked for by hostPort (a pod user that is not root cannot bind them). */
  lowestPort?: number;
}

interface Holding {
  key: string;
  owners: Set<string>;
}

export class HostPortAllocator {
  /** Ports held by this node's containers, with the key they were given for. */
  private readonly held = new Map<number, Holding>();
  private readonly last = new Map<string, number>();

  constructor(private readonly options: HostPortAllocatorOptions) {}

  /**
   * A host port for `key`, held by `owner` (a container id or name) until `release(owner)`:
   * the containerPort when free, else the port the key had last, else one from the range. A
   * port held for the same key (the previous container of a restarted one) may be taken again
   * when the host can bind it. Throws when no port in reach is free.
   */
  async allocate(key: string, containerPort: number, owner: string): Promise<number> {
    const lowest = this.options.lowestPort ?? 1;
    const remembered = this.last.get(key);
    const tried = new Set<number>();
    // The containerPort first whenever the host has it free: an image that ignores PORT listens
    // there whatever it is told, so a container restarted after its port came free must get it
    // (probes and Services follow the port given). Then the port it had last, then the range.
    const candidates = candidatePorts(key, containerPort, this.options.range);
    const first = candidates[0] === containerPort ? candidates.slice(0, 1) : [];
    const order = [...first, ...(remembered !== undefined ? [remembered] : []), ...candidates.slice(first.length)];
    for (const port of order) {
      if (tried.has(port) || port < lowest) continue;
      tried.add(port);
      const holding = this.held.get(port);
      if (holding !== undefined && holding.key !== key) continue;
      // Held before the check: a concurrent allocation skips it while the check runs.
      const added = this.hold(port, key, owner);
      if (await this.options.isFree(port)) {
        this.remember(key, port);
        return port;
      }
      if (added) this.unhold(port, owner);
    }
    const range = this.options.range ?? HOST_PORT_RANGE;
    throw new Error(`no free host port for ${key}: ${containerPort} and the ${tried.size} ports tried in ${range.min}-${range.max} are taken; free some, or set hostPort`);
  }

  /** A port an existing container holds (adopted after an agent restart). */
  adopt(key: string, port: number, owner: string): void {
    this.hold(port, key, owner);
    this.remember(key, port);
  }

  /** Frees every port `owner` holds; the key keeps its port for the next container. */
  release(owner: string): void {
    for (const [port, holding] of [...this.held]) if (holding.owners.has(owner)) this.unhold(port, owner);
  }

  /** What `from` holds is `to`'s from now on (a container known by its name until it has an id). */
  transfer(from: string, to: string): void {
    for (const holding of this.held.values()) {
      if (!holding.owners.delete(from)) continue;
      holding.owners.add(to);
    }
  }

  /** Ports held now, with their keys (for tests and status). */
  holdings(): Map<number, string> {
    return new Map([...this.held].map(([port, h]) => [port, h.key]));
  }

  private hold(port: number, key: string, owner: string): boolean {
    const holding = this.held.get(port);
    if (holding === undefined) {
      this.held.set(port, { key, owners: new Set([owner]) });
      return true;
    }
    if (holding.owners.has(owner)) return false;
    holding.owners.add(owner);
    return true;
  }

  private unhold(port: number, owner: string): void {
    const holding = this.held.get(port);
    if (holding === undefined) return;
    holding.owners.delete(owner);
    if (holding.owners.size === 0) this.held.delete(port);
  }

  private remember(key: string, port: number): void {
    this.last.delete(key);
    this.last.set(key, port);
    if (this.last.size > REMEMBERED) this.last.delete(this.last.keys().next().value as string);
  }
}
