// HTTP Service ports served by several worker processes (the primary keeps the store watch,
// the tables and the listening sockets). The primary accepts each connection, paused, and
// hands it to the next worker of that listener in turn; a worker parses and proxies every
// request on it. Each worker holds its own picker per Service port, built from the table the
// primary sends, so its weighted sequence is exact on its own; connections are dealt in turn,
// and the split over all workers is off from exact by less than one request per worker and
// revision (exact once every worker has served whole cycles). Workers report their figures
// every `reportMs` as deltas the primary adds into its own metrics and window.
import { fork, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { TrafficPolicy } from '../api/cluster.js';
import type { RouterMetrics } from './metrics.js';
import type { EjectionOptions } from './outlier.js';
import type { BackendPoolOptions } from './pool.js';
import { formatAddress, listen, type Listener, type ListenerOptions } from './proxy.js';
import type { PortTable } from './table.js';
import { portable, type FromWorker, type PortableTable, type ToWorker, type WorkerListenerSpec } from './worker-link.js';

/** How to start one worker process (tests run the TypeScript entry through a loader). */
export interface WorkerCommand {
  /** The module `fork` runs (default: worker.js beside this file). */
  module: string;
  /** Arguments after the module (e.g. the TypeScript entry for a loader). */
  args?: string[];
  execArgv?: string[];
}

export interface RouterWorkersOptions {
  count: number;
  logger: Logger;
  metrics: RouterMetrics;
  pool?: BackendPoolOptions;
  ejection?: EjectionOptions;
  /** How often each worker reports its figures (default 250 ms). */
  reportMs?: number;
  command?: WorkerCommand;
}

interface Worker {
  child: ChildProcess;
  index: number;
  alive: boolean;
  inFlight: Record<string, number>;
  /** Requests this worker has served (all its reports summed). */
  requests: number;
}

export function defaultWorkerCommand(): WorkerCommand {
  return { module: fileURLToPath(new URL('./worker.js', import.meta.url)) };
}

export class RouterWorkers {
  private readonly workers: Worker[] = [];
  private readonly tables = new Map<string, { signature: string; portable: PortableTable }>();
  private readonly specs = new Map<string, WorkerListenerSpec>();
  private live: string[] = [];
  private seq = 0;
  private readonly waits = new Map<number, { left: number; done: () => void }>();
  private stopping = false;

  constructor(private readonly options: RouterWorkersOptions) {}

  /** Forks every worker and waits until each is ready. */
  async start(): Promise<void> {
    await Promise.all(Array.from({ length: this.options.count }, (_, i) => this.spawn(i)));
  }

  /** Worker process ids, in worker order (dead ones included until replaced). */
  pids(): number[] {
    return this.workers.map((w) => w.child.pid ?? 0);
  }

  /** Requests each worker has reported serving. */
  requestsPerWorker(): number[] {
    return this.workers.map((w) => w.requests);
  }

  private spawn(index: number): Promise<void> {
    const command = this.options.command ?? defaultWorkerCommand();
    const child = fork(command.module, [...(command.args ?? []), JSON.stringify({ pool: this.options.pool ?? {}, ejection: this.options.ejection ?? {}, reportMs: this.options.reportMs ?? 250 })], {
      execArgv: command.execArgv ?? [],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const worker: Worker = { child, index, alive: false, inFlight: {}, requests: 0 };
    this.workers[index] = worker;
    return new Promise<void>((resolve, reject) => {
      child.on('message', (msg: FromWorker) => {
        if (msg.type === 'ready') {
          worker.alive = true;
          // A replacement starts with everything the others know.
          for (const [key, t] of this.tables) this.send(worker, { type: 'table', key, portable: t.portable });
          for (const spec of this.specs.values()) this.send(worker, { type: 'listener', spec });
          this.send(worker, { type: 'retain', live: this.live });
          resolve();
        } else this.received(worker, msg);
      });
      child.on('exit', (code, signal) => {
        const was = worker.alive;
        worker.alive = false;
        worker.inFlight = {};
        if (!was) reject(new Error(`router worker ${index} exited with ${signal ?? code} before it was ready`));
        if (this.stopping) return;
        this.options.logger.error({ worker: index, code, signal }, 'router worker exited; starting another');
        // Waits this worker will never answer.
        for (const [seq, w] of this.waits) this.answered(seq, w);
        setTimeout(() => void this.spawn(index).catch((err: unknown) => this.options.logger.error({ err, worker: index }, 'router worker failed to start')), 200).unref();
      });
      child.on('error', (err) => this.options.logger.warn({ err, worker: index }, 'router worker channel error'));
    });
  }

  private received(worker: Worker, msg: FromWorker): void {
    if (msg.type === 'figures') {
      worker.inFlight = msg.inFlight;
      for (const d of msg.deltas) for (const [, n] of d.codes) worker.requests += n;
      if (msg.deltas.length > 0) this.options.metrics.absorb(msg.deltas, msg.sentAtMs);
      if (msg.seq !== undefined) this.answer(msg.seq);
    } else if (msg.type === 'closed' || msg.type === 'stopped') this.answer(msg.seq);
  }

  private answer(seq: number): void {
    const w = this.waits.get(seq);
    if (w !== undefined) this.answered(seq, w);
  }

  private answered(seq: number, w: { left: number; done: () => void }): void {
    w.left--;
    if (w.left <= 0) {
      this.waits.delete(seq);
      w.done();
    }
  }

  private send(worker: Worker, msg: ToWorker, handle?: net.Socket): boolean {
    if (!worker.alive || !worker.child.connected) return false;
    try {
      if (handle === undefined) worker.child.send(msg);
      else
        worker.child.send(msg, handle, { keepOpen: false }, (err) => {
          if (err) handle.destroy();
        });
      return true;
    } catch {
      return false;
    }
  }

  /** Sends `make(seq)` to every live worker and resolves once each answered (or died), or after `timeoutMs`. */
  private ask(make: (seq: number) => ToWorker, timeoutMs: number): Promise<void> {
    const seq = ++this.seq;
    const targets = this.workers.filter((w) => w.alive);
    if (targets.length === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.waits.delete(seq);
        resolve();
      }, timeoutMs);
      timer.unref();
      this.waits.set(seq, {
        left: targets.length,
        done: () => {
          clearTimeout(timer);
          resolve();
        },
      });
      for (const w of targets) if (!this.send(w, make(seq))) this.answer(seq);
    });
  }

  /** Every Service port's table: changed ones go to every worker, vanished ones are dropped. */
  setTables(tables: ReadonlyMap<string, PortTable>, policyOf: (table: PortTable) => TrafficPolicy | undefined): void {
    for (const key of [...this.tables.keys()]) {
      if (tables.has(key)) continue;
      this.tables.delete(key);
      for (const w of this.workers) this.send(w, { type: 'drop-table', key });
    }
    for (const [key, table] of tables) {
      if (table.protocol !== 'http' || this.tables.get(key)?.signature === table.signature) continue;
      const p = portable(table, policyOf(table));
      this.tables.set(key, { signature: table.signature, portable: p });
      for (const w of this.workers) this.send(w, { type: 'table', key, portable: p });
    }
  }

  /** Backends still in some table; the workers retire the others' pools. */
  retain(live: ReadonlySet<string>): void {
    this.live = [...live].sort();
    for (const w of this.workers) this.send(w, { type: 'retain', live: this.live });
  }

  /** Asks every worker for its figures now and resolves once they are added in. */
  report(timeoutMs = 2000): Promise<void> {
    return this.ask((seq) => ({ type: 'report', seq }), timeoutMs);
  }

  /** Requests in flight per backend in every worker (as of their last reports). */
  inFlight(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const w of this.workers) for (const [id, n] of Object.entries(w.inFlight)) out[id] = (out[id] ?? 0) + n;
    return out;
  }

  /** A listener whose socket is here and whose requests the workers serve. */
  listener(id: string, picker: string, options: ListenerOptions): Listener {
    return new WorkerListener(this, { id, picker, service: options.service, timeoutMs: options.timeoutMs, retries: options.retries }, options);
  }

  /** @internal */
  opened(spec: WorkerListenerSpec): void {
    this.specs.set(spec.id, spec);
    for (const w of this.workers) this.send(w, { type: 'listener', spec });
  }

  /** @internal The next live worker after `after`, or -1. */
  handOff(id: string, socket: net.Socket, after: number): number {
    const n = this.workers.length;
    for (let step = 1; step <= n; step++) {
      const w = this.workers[(after + step) % n];
      if (w !== undefined && this.send(w, { type: 'connection', id }, socket)) return w.index;
    }
    socket.destroy();
    return after;
  }

  /** @internal */
  async closed(id: string, graceMs: number): Promise<void> {
    this.specs.delete(id);
    await this.ask((seq) => ({ type: 'close', id, graceMs, seq }), graceMs + 2000);
  }

  /** Stops every worker: in-flight requests get `graceMs`, then the processes exit. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    await this.ask((seq) => ({ type: 'stop', graceMs, seq }), graceMs + 2000);
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.child.exitCode !== null || w.child.signalCode !== null) return resolve();
            w.child.once('exit', () => resolve());
            if (w.child.connected) w.child.disconnect();
            setTimeout(() => w.child.kill('SIGKILL'), 2000).unref();
          }),
      ),
    );
  }
}

/** The listening socket of one HTTP Service listener, its connections dealt to the workers in turn. */
class WorkerListener implements Listener {
  readonly protocol = 'http' as const;
  private readonly server: net.Server;
  private bound: AddressInfo | undefined;
  private last = -1;

  constructor(
    private readonly workers: RouterWorkers,
    private readonly spec: WorkerListenerSpec,
    private readonly options: ListenerOptions,
  ) {
    // Paused: the bytes are read by the worker the socket goes to, never here.
    this.server = net.createServer({ pauseOnConnect: true, noDelay: true }, (socket) => {
      this.last = this.workers.handOff(this.spec.id, socket, this.last);
    });
  }

  async start(): Promise<AddressInfo> {
    this.bound = await listen(this.server, this.options.host, this.options.port, this.options.service);
    // Before any connection can be handed off: messages to a worker arrive in order.
    this.workers.opened(this.spec);
    return this.bound;
  }

  address(): string | undefined {
    return formatAddress(this.bound);
  }

  async close(graceMs: number): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.workers.closed(this.spec.id, graceMs);
    await closed;
  }
}
