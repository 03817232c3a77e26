// A router worker process (workers.ts forks it): HTTP listeners fed with the connections the
// primary accepted, one picker per Service port from the tables the primary sends, its own
// keep-alive pools, and figures reported as deltas. It exits when the primary goes away.
import type net from 'node:net';
import { silentLogger } from '../common/index.js';
import { Ejections, type EjectionOptions } from './outlier.js';
import { BackendPool, type BackendPoolOptions } from './pool.js';
import { HttpListener } from './proxy.js';
import { Picker } from './table.js';
import { DeltaMetrics, fromPortable, type FromWorker, type ToWorker } from './worker-link.js';

interface WorkerSettings {
  pool: BackendPoolOptions;
  ejection: Pick<EjectionOptions, 'baseMs' | 'maxMs'>;
  reportMs: number;
}

function settings(): WorkerSettings {
  const raw = process.argv[process.argv.length - 1];
  try {
    const parsed = JSON.parse(raw) as Partial<WorkerSettings>;
    return { pool: parsed.pool ?? {}, ejection: parsed.ejection ?? {}, reportMs: parsed.reportMs ?? 250 };
  } catch {
    return { pool: {}, ejection: {}, reportMs: 250 };
  }
}

function send(msg: FromWorker): void {
  if (process.connected) process.send?.(msg);
}

function main(): void {
  if (process.send === undefined) {
    process.stderr.write('the router worker runs only as a child of the router (capstan server --router-workers N)\n');
    process.exit(2);
  }
  const config = settings();
  const logger = silentLogger();
  const ejections = new Ejections(config.ejection);
  const pool = new BackendPool({ ...config.pool, onConnect: (id) => ejections.succeeded(id) });
  const metrics = new DeltaMetrics();
  const pickers = new Map<string, Picker>();
  const listeners = new Map<string, HttpListener>();

  const report = (seq?: number): void => {
    const deltas = metrics.take();
    if (deltas.length === 0 && seq === undefined) return;
    send({ type: 'figures', sentAtMs: Date.now(), deltas, inFlight: pool.inFlight(), seq });
  };
  setInterval(() => report(), config.reportMs).unref();

  process.on('message', (msg: ToWorker, handle: unknown) => {
    switch (msg.type) {
      case 'table':
        pickers.set(msg.key, new Picker(fromPortable(msg.portable)));
        break;
      case 'drop-table':
        pickers.delete(msg.key);
        break;
      case 'listener': {
        if (listeners.has(msg.spec.id)) break;
        const picker = msg.spec.picker;
        listeners.set(
          msg.spec.id,
          new HttpListener({ service: msg.spec.service, protocol: 'http', host: '', port: 0, picker: () => pickers.get(picker),
            pool,
            metrics,
            logger,
            timeoutMs: msg.spec.timeoutMs,
            retries: msg.spec.retries,
            ejections,
          }),
        );
        break;
      }
      case 'connection': {
        const socket = handle as net.Socket | undefined;
        const listener = listeners.get(msg.id);
        if (socket === undefined) break;
        if (listener === undefined) socket.destroy();
        else listener.accept(socket);
        break;
      }
      case 'close': {
        const listener = listeners.get(msg.id);
        listeners.delete(msg.id);
        void (listener?.close(msg.graceMs) ?? Promise.resolve()).finally(() => send({ type: 'closed', seq: msg.seq }));
        break;
      }
      case 'retain': {
        const live = new Set(msg.live);
        pool.retain(live);
        ejections.retain(live);
        break;
      }
      case 'report':
        report(msg.seq);
        break;
      case 'stop':
        void Promise.allSettled([...listeners.values()].map((l) => l.close(msg.graceMs))).then(() => {
          listeners.clear();
          report();
          pool.destroyAll();
          send({ type: 'stopped', seq: msg.seq });
        });
        break;
    }
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready' });
}

main();
