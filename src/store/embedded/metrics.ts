// Store metrics, registered only in the registry the caller passes (never the global one).
import { Gauge, Histogram, type Registry } from 'prom-client';

export interface StoreMetrics {
  fsyncSeconds(seconds: number): void;
  batchSize(entries: number): void;
  applyLag(entries: number): void;
}

const NOOP: StoreMetrics = { fsyncSeconds() {}, batchSize() {}, applyLag() {} };

export function createStoreMetrics(registry: Registry | undefined, size: () => { keys: number; bytes: number }): StoreMetrics {
  if (!registry) return NOOP;
  const registers = [registry];
  const fsync = new Histogram({
    name: 'capstan_store_wal_fsync_duration_seconds',
    help: 'Duration of WAL fsyncs',
    buckets: [0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers,
  });
  const batch = new Histogram({
    name: 'capstan_store_wal_batch_entries',
    help: 'Entries written per WAL write (group commit batch size)',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
    registers,
  });
  const lag = new Gauge({ name: 'capstan_store_apply_lag_entries', help: 'Log entries durable but not yet applied', registers });
  new Gauge({
    name: 'capstan_store_keys',
    help: 'Live keys in the store',
    registers,
    collect() {
      this.set(size().keys);
    },
  });
  new Gauge({
    name: 'capstan_store_bytes',
    help: 'Bytes of live keys and values in the store',
    registers,
    collect() {
      this.set(size().bytes);
    },
  });
  return {
    fsyncSeconds: (s) => fsync.observe(s),
    batchSize: (n) => batch.observe(n),
    applyLag: (n) => lag.set(n),
  };
}
