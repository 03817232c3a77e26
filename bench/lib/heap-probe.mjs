// Loaded into a benchmarked server with `--import`: writes the process's memory figures as
// one JSON line to the file named by CAPSTAN_BENCH_HEAP_FILE every 500 ms, so the benchmark
// can report heap beside RSS without reaching into the process.
import { writeFileSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';

const file = process.env.CAPSTAN_BENCH_HEAP_FILE;
if (file) {
  const write = () => {
    const m = process.memoryUsage();
    const h = getHeapStatistics();
    const line = { at: Date.now(), rss: m.rss, heapTotal: m.heapTotal, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, physical: h.total_physical_size };
    try {
      writeFileSync(file, `${JSON.stringify(line)}\n`);
    } catch {
      // the benchmark went away; nothing to report to
    }
  };
  write();
  setInterval(write, 500).unref();
}
