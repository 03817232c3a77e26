// `capstan exec` on the node: a command run in a container (Docker exec, or a process spawned
// with the container's env, working dir and user), and the pump between it and a socket
// speaking the frame protocol of exec-frames.ts.
import type { ChildProcess } from 'node:child_process';
import type { Duplex, Readable, Writable } from 'node:stream';
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { CapstanError, type Logger } from '../common/index.js';
import { CHANNEL, FrameDecoder, encodeData, encodeExit, parseResize, type ExitMessage, type ResizeMessage } from './exec-frames.js';
import { killProcessGroup, type ProcessRuntime } from './process-runtime.js';
import type { ContainerHandle } from './runtime.js';

export interface ExecRequest {
  command: string[];
  tty: boolean;
  stdin: boolean;
}

/** A running command: its output streams, input, resize and exit. */
export interface ExecSession {
  stdout: Readable;
  /** Absent with a TTY (one stream carries both). */
  stderr?: Readable;
  /** Present when stdin was asked for. */
  stdin?: Writable;
  resize(size: ResizeMessage): void;
  /** The exit code, once the command has ended and its output is read. */
  exit: Promise<number>;
  /** The client went away: stop what can be stopped. */
  kill(): void;
}

function execError(message: string): CapstanError {
  return new CapstanError('CAPSTAN_ERR_AGENT_EXEC', message);
}

function flag(query: URLSearchParams, name: string): boolean {
  const v = query.get(name);
  return v === '1' || v === 'true';
}

/** `command=a&command=b&tty=0|1&stdin=0|1` (kubectl's parameter names). */
export function parseExecQuery(query: URLSearchParams): ExecRequest {
  const command = query.getAll('command');
  if (command.length === 0 || command[0] === '') throw execError('name a command to run: command=<program>&command=<arg>...');
  return { command, tty: flag(query, 'tty'), stdin: flag(query, 'stdin') };
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15, SIGPIPE: 13 };

/** Runs the command as the process runtime runs the container; no TTY (that would need a native pty). */
export function processExec(runtime: ProcessRuntime, handle: ContainerHandle, request: ExecRequest): ExecSession {
  if (request.tty) throw execError('the process runtime cannot give a command a TTY; run without -t (stdin with -i works)');
  let child: ChildProcess;
  try {
    child = runtime.spawnIn(handle, request.command, request.stdin ? 'pipe' : 'ignore');
  } catch (err) {
    throw execError(`could not run ${request.command[0]}: ${(err as Error).message}`);
  }
  const stderr = new PassThrough();
  child.stderr!.pipe(stderr);
  const exit = new Promise<number>((resolve) => {
    child.once('error', (err) => {
      stderr.write(`capstan: could not run ${request.command[0]}: ${err.message}\n`);
      resolve(127);
    });
    child.once('close', (code, signal) => resolve(code ?? 128 + (SIGNALS[signal ?? ''] ?? 0)));
  });
  child.stdin?.on('error', () => undefined); // the command may exit before it reads its input
  return {
    stdout: child.stdout!,
    stderr,
    ...(child.stdin ? { stdin: child.stdin } : {}),
    resize: () => undefined,
    exit,
    kill: () => {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) killProcessGroup(child.pid, 'SIGKILL');
    },
  };
}

/** Docker exec: the hijacked connection carries stdin and (multiplexed unless a TTY) stdout and stderr. */
export async function dockerExec(docker: Docker, id: string, request: ExecRequest): Promise<ExecSession> {
  const container = docker.getContainer(id);
  let exec: Docker.Exec;
  let stream: Duplex;
  try {
    exec = await container.exec({ Cmd: request.command, AttachStdin: request.stdin, AttachStdout: true, AttachStderr: true, Tty: request.tty });
    stream = (await exec.start({ hijack: true, stdin: request.stdin, Tty: request.tty })) as unknown as Duplex;
  } catch (err) {
    throw execError(`docker refused the command: ${(err as Error).message}`);
  }
  const stdout = new PassThrough();
  const stderr = request.tty ? undefined : new PassThrough();
  if (request.tty) stream.pipe(stdout);
  else {
    docker.modem.demuxStream(stream, stdout, stderr!);
    const finish = (): void => {
      stdout.end();
      stderr!.end();
    };
    stream.once('end', finish);
    stream.once('close', finish);
  }
  stream.on('error', () => undefined);
  const ended = new Promise<void>((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
  });
  const exit = ended.then(async () => {
    // The daemon may take a moment to record the exit code after the stream ends.
    for (let i = 0; i < 50; i++) {
      const info = await exec.inspect();
      if (!info.Running && info.ExitCode !== null && info.ExitCode !== undefined) return info.ExitCode;
      await new Promise((r) => setTimeout(r, 20));
    }
    return 1;
  });
  return {
    stdout,
    ...(stderr ? { stderr } : {}),
    ...(request.stdin ? { stdin: stream } : {}),
    resize: (size) => {
      exec.resize({ h: size.rows, w: size.cols }).catch(() => undefined);
    },
    exit,
    kill: () => stream.destroy(),
  };
}

/**
 * Pumps an exec session over a socket in the frame protocol: frames from the socket go to
 * stdin and resize, output goes out as stdout and stderr frames, then one exit frame, then
 * the socket ends. The socket closing first kills the session.
 */
export function pumpExec(socket: Duplex, head: Buffer, session: ExecSession, logger?: Logger): Promise<ExitMessage> {
  const decoder = new FrameDecoder();
  let finished = false;
  const onData = (chunk: Buffer): void => {
    let frames;
    try {
      frames = decoder.push(chunk);
    } catch (err) {
      logger?.warn({ err }, 'exec stream sent a bad frame; closing it');
      socket.destroy();
      return;
    }
    for (const f of frames) {
      if (f.channel === CHANNEL.stdin) {
        if (!session.stdin) continue;
        if (f.payload.length === 0) session.stdin.end();
        else if (!session.stdin.writableEnded) session.stdin.write(f.payload);
      } else if (f.channel === CHANNEL.resize) {
        const size = parseResize(f.payload);
        if (size) session.resize(size);
      }
    }
  };
  socket.on('data', onData);
  if (head.length > 0) onData(head);
  socket.on('error', () => undefined);
  socket.once('close', () => {
    if (!finished) session.kill();
  });

  const forward = (stream: Readable | undefined, channel: number): Promise<void> =>
    new Promise((resolve) => {
      if (!stream) return resolve();
      stream.on('data', (chunk: Buffer) => {
        if (socket.destroyed) return;
        let ok = true;
        for (const frame of encodeData(channel, chunk)) ok = socket.write(frame) && ok;
        if (!ok) {
          stream.pause();
          socket.once('drain', () => stream.resume());
        }
      });
      stream.once('end', resolve);
      stream.once('close', resolve);
      stream.once('error', () => resolve());
    });

  return Promise.all([forward(session.stdout, CHANNEL.stdout), forward(session.stderr, CHANNEL.stderr)])
    .then(() => session.exit)
    .then(
      (exitCode): ExitMessage => ({ exitCode }),
      (err: unknown): ExitMessage => ({ error: (err as Error).message }),
    )
    .then((message) => {
      finished = true;
      if (!socket.destroyed) socket.end(encodeExit(message));
      return message;
    });
}
