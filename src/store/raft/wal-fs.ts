// The narrow file-system seam the WAL and snapshots go through, so tests can inject faults
// (lost unsynced writes, torn records, flipped bits, a full disk) at exactly this edge.
import { promises as fsp, constants } from 'node:fs';

export interface WalFile {
  /** Appends all of `data` at the end of the file. */
  append(data: Uint8Array): Promise<void>;
  /** Makes everything appended so far durable. */
  sync(): Promise<void>;
  close(): Promise<void>;
}

export interface WalFs {
  mkdirp(dir: string): Promise<void>;
  readdir(dir: string): Promise<string[]>;
  readFile(path: string): Promise<Uint8Array>;
  /** Opens for appending, creating the file when missing. */
  openAppend(path: string): Promise<WalFile>;
  truncate(path: string, length: number): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** Makes creations, renames and deletions in `dir` durable. */
  syncDir(dir: string): Promise<void>;
}

/** The real file system. */
export const nodeWalFs: WalFs = {
  async mkdirp(dir) {
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  },
  readdir: (dir) => fsp.readdir(dir),
  readFile: (path) => fsp.readFile(path),
  async openAppend(path) {
    const fh = await fsp.open(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
    return {
      async append(data) {
        let off = 0;
        while (off < data.length) {
          const { bytesWritten } = await fh.write(data, off, data.length - off);
          off += bytesWritten;
        }
      },
      // fdatasync: the data and the size, without unrelated metadata such as mtime.
      sync: () => fh.datasync(),
      close: () => fh.close(),
    };
  },
  truncate: (path, length) => fsp.truncate(path, length),
  rename: (from, to) => fsp.rename(from, to),
  unlink: (path) => fsp.unlink(path),
  async syncDir(dir) {
    const fh = await fsp.open(dir, constants.O_RDONLY);
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  },
};
