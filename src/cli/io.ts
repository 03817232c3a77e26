// The CLI's only door to the terminal: commands write through this, never to process.* directly,
// so tests can run them in-process and read what they printed.

export interface CliIO {
  out(text: string): void;
  err(text: string): void;
  /** Colours allowed (a TTY and NO_COLOR unset). */
  color: boolean;
  /** Standard output is a terminal (redraw in place rather than append). */
  interactive?: boolean;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Asks a question on the terminal and gives the line typed; absent when stdin is no terminal. */
  ask?: (question: string) => Promise<string>;
}

/** `capstan get pods | head`: a reader that stops early is not an error worth a stack trace. */
function quietOnClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
}

export function processIO(): CliIO {
  quietOnClosedPipe(process.stdout);
  return {
    out: (t) => void process.stdout.write(t),
    err: (t) => void process.stderr.write(t),
    color: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR,
    interactive: Boolean(process.stdout.isTTY),
    env: process.env,
    cwd: process.cwd(),
    ...(process.stdin.isTTY
      ? {
          ask: async (question: string) => {
            const { createInterface } = await import('node:readline/promises');
            const rl = createInterface({ input: process.stdin, output: process.stdout });
            try {
              return await rl.question(question);
            } finally {
              rl.close();
            }
          },
        }
      : {}),
  };
}

/** Exit codes of the contract: 0 success, 1 failure or error, 2 usage error. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/**
 * Thrown by a command action to end with a given exit code after it has printed what it
 * wanted to (main() catches it; nothing else prints).
 */
export class ExitRequest extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
    this.name = 'ExitRequest';
  }
}
