// Checks on file bytes: Git blob ids and "is this UTF-8 text" with the place of the first bad byte.
import { createHash } from 'node:crypto';

/** The Git blob id of some bytes: sha1 of `blob <len>\0<content>`. */
export function gitBlobId(content: Uint8Array): string {
  return createHash('sha1').update(`blob ${content.byteLength}\0`).update(content).digest('hex');
}

export interface TextProblem {
  reason: 'nul' | 'utf8';
  /** 1-based line and column (in bytes) of the first bad byte. */
  line: number;
  column: number;
}

const strictDecoder = new TextDecoder('utf-8', { fatal: true });

/** undefined when the bytes are UTF-8 text without NUL; else where the first problem is. */
export function checkText(content: Uint8Array): TextProblem | undefined {
  const nul = content.indexOf(0);
  let valid = true;
  try {
    strictDecoder.decode(content);
  } catch {
    valid = false;
  }
  if (nul < 0 && valid) return undefined;
  const badUtf8 = valid ? -1 : firstInvalidUtf8(content);
  const reason: TextProblem['reason'] = nul >= 0 && (badUtf8 < 0 || nul < badUtf8) ? 'nul' : 'utf8';
  const at = reason === 'nul' ? nul : badUtf8;
  return { reason, ...position(content, at) };
}

function position(content: Uint8Array, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset; i++) {
    if (content[i] === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/** Offset of the first byte that does not start or continue a well-formed UTF-8 sequence. */
function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    if (c >= 0xc2 && c <= 0xdf) [need, min] = [1, 0x80];
    else if (c >= 0xe0 && c <= 0xef) [need, min] = [2, 0x800];
    else if (c >= 0xf0 && c <= 0xf4) [need, min] = [3, 0x10000];
    else return i;
    let cp = c & (0x3f >> need);
    for (let k = 1; k <= need; k++) {
      const n = b[i + k];
      if (n === undefined || (n & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (n & 0x3f);
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8.
    if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return i;
    i += need + 1;
  }
  return b.length;
}
