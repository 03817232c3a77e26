// The condition language of AnalysisTemplate `successCondition` / `failureCondition`: a tiny
// tokenizer and Pratt parser, evaluated over the measurement only. No eval, no Function, no
// access to prototypes: member access reads own data properties of plain objects and arrays,
// and the only calls are a fixed list of functions.

import { CapstanError } from '../common/index.js';

export type Value = number | string | boolean | null | undefined | readonly Value[] | { readonly [k: string]: Value };

type Node =
  | { t: 'num'; v: number }
  | { t: 'str'; v: string }
  | { t: 'lit'; v: boolean | null }
  | { t: 'id'; name: string }
  | { t: 'member'; obj: Node; name: string }
  | { t: 'index'; obj: Node; index: Node }
  | { t: 'call'; name: string; args: Node[] }
  | { t: 'unary'; op: '!' | '-'; arg: Node }
  | { t: 'binary'; op: string; left: Node; right: Node };

interface Token {
  kind: 'num' | 'str' | 'id' | 'op' | 'end';
  text: string;
  pos: number;
}

const FORBIDDEN = new Set(['constructor', '__proto__', 'prototype', '__defineGetter__', '__defineSetter__', '__lookupGetter__', '__lookupSetter__']);
const OPERATORS = ['<=', '>=', '==', '!=', '&&', '||', '<', '>', '!', '(', ')', '.', ',', '[', ']', '+', '-', '*', '/'];
const MAX_LENGTH = 2000;
const MAX_DEPTH = 64;

function fail(message: string, source: string, pos?: number): CapstanError {
  const where = pos === undefined ? '' : ` at column ${pos + 1}`;
  return new CapstanError('CAPSTAN_ERR_API_SCHEMA', `condition ${JSON.stringify(source)}: ${message}${where}`, { field: 'condition', context: { condition: source } });
}

function tokenize(src: string): Token[] {
  if (src.length > MAX_LENGTH) throw fail(`longer than ${MAX_LENGTH} characters`, src.slice(0, 40));
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    const num = /^(\d+(\.\d+)?([eE][+-]?\d+)?|\.\d+)/.exec(src.slice(i));
    if (num) {
      out.push({ kind: 'num', text: num[0], pos: i });
      i += num[0].length;
      continue;
    }
    const id = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i));
    if (id) {
      out.push({ kind: 'id', text: id[0], pos: i });
      i += id[0].length;
      continue;
    }
    if (c === '"' || c === "'") {
      let j = i + 1;
      let text = '';
      while (j < src.length && src[j] !== c) {
        if (src[j] === '\\' && j + 1 < src.length) j++;
        text += src[j];
        j++;
      }
      if (j >= src.length) throw fail('unterminated string', src, i);
      out.push({ kind: 'str', text, pos: i });
      i = j + 1;
      continue;
    }
    const op = OPERATORS.find((o) => src.startsWith(o, i));
    if (!op) throw fail(`unexpected ${JSON.stringify(c)}`, src, i);
    out.push({ kind: 'op', text: op, pos: i });
    i += op.length;
  }
  out.push({ kind: 'end', text: '', pos: src.length });
  return out;
}

const BINDING: Record<string, number> = { '||': 1, '&&': 2, '==': 3, '!=': 3, '<': 4, '<=': 4, '>': 4, '>=': 4, '+': 5, '-': 5, '*': 6, '/': 6 };

/** Functions a condition may call: pure, total, on plain values. */
const FUNCTIONS: Record<string, (args: Value[]) => Value> = {
  len: ([v]) => (typeof v === 'string' || Array.isArray(v) ? v.length : isRecord(v) ? Object.keys(v).length : 0),
  abs: ([v]) => Math.abs(toNumber(v)),
  min: (a) => Math.min(...a.map(toNumber)),
  max: (a) => Math.max(...a.map(toNumber)),
  isNaN: ([v]) => typeof v === 'number' && Number.isNaN(v),
  isNil: ([v]) => v === null || v === undefined,
  default: ([v, d]) => (v === null || v === undefined ? d : v),
};

function isRecord(v: unknown): v is { readonly [k: string]: Value } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function toNumber(v: Value): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v))) return Number(v);
  return Number.NaN;
}

/** A parsed condition, ready to evaluate against measurements. */
export interface Condition {
  source: string;
  evaluate(result: Value): boolean;
}

export function parseCondition(source: string): Condition {
  const tokens = tokenize(source);
  let p = 0;
  let depth = 0;
  const peek = (): Token => tokens[p]!;
  const next = (): Token => tokens[p++]!;
  const expect = (text: string): void => {
    const t = next();
    if (t.text !== text || t.kind !== 'op') throw fail(`expected ${JSON.stringify(text)}`, source, t.pos);
  };

  function prefix(): Node {
    const t = next();
    if (t.kind === 'num') return { t: 'num', v: Number(t.text) };
    if (t.kind === 'str') return { t: 'str', v: t.text };
    if (t.kind === 'op' && (t.text === '!' || t.text === '-')) return { t: 'unary', op: t.text, arg: expr(7) };
    if (t.kind === 'op' && t.text === '(') {
      const e = expr(0);
      expect(')');
      return e;
    }
    if (t.kind === 'id') {
      if (t.text === 'true' || t.text === 'false') return { t: 'lit', v: t.text === 'true' };
      if (t.text === 'nil' || t.text === 'null') return { t: 'lit', v: null };
      if (peek().text === '(') {
        if (!Object.prototype.hasOwnProperty.call(FUNCTIONS, t.text)) throw fail(`${t.text}() is not an allowed function`, source, t.pos);
        next();
        const args: Node[] = [];
        if (peek().text !== ')') {
          for (;;) {
            args.push(expr(0));
            if (peek().text !== ',') break;
            next();
          }
        }
        expect(')');
        return { t: 'call', name: t.text, args };
      }
      if (t.text !== 'result') throw fail(`unknown name ${JSON.stringify(t.text)}: only result is defined`, source, t.pos);
      return { t: 'id', name: t.text };
    }
    throw fail(t.kind === 'end' ? 'unexpected end' : `unexpected ${JSON.stringify(t.text)}`, source, t.pos);
  }

  function expr(minBinding: number): Node {
    if (++depth > MAX_DEPTH) throw fail('nested too deeply', source);
    let left = prefix();
    for (;;) {
      const t = peek();
      if (t.kind !== 'op') break;
      if (t.text === '.' || t.text === '[') {
        if (left.t === 'call' || left.t === 'num' || left.t === 'str' || left.t === 'lit') throw fail('member access is only allowed on result', source, t.pos);
        next();
        if (t.text === '.') {
          const name = next();
          if (name.kind !== 'id') throw fail('expected a field name', source, name.pos);
          if (FORBIDDEN.has(name.text)) throw fail(`${name.text} is not accessible`, source, name.pos);
          left = { t: 'member', obj: left, name: name.text };
        } else {
          const index = expr(0);
          expect(']');
          left = { t: 'index', obj: left, index };
        }
        continue;
      }
      const b = BINDING[t.text];
      if (b === undefined || b <= minBinding) break;
      next();
      left = { t: 'binary', op: t.text, left, right: expr(b) };
    }
    depth--;
    return left;
  }

  const root = expr(0);
  if (peek().kind !== 'end') throw fail(`unexpected ${JSON.stringify(peek().text)}`, source, peek().pos);

  function get(obj: Value, key: string | number): Value {
    if (typeof key === 'string' && FORBIDDEN.has(key)) throw fail(`${key} is not accessible`, source);
    if (Array.isArray(obj)) {
      const i = typeof key === 'number' ? key : Number.NaN;
      return Number.isInteger(i) && i >= 0 && i < obj.length ? (obj[i] as Value) : undefined;
    }
    if (isRecord(obj) && typeof key === 'string' && Object.prototype.hasOwnProperty.call(obj, key)) return obj[key];
    return undefined;
  }

  function ev(n: Node, result: Value): Value {
    switch (n.t) {
      case 'num':
      case 'str':
      case 'lit':
        return n.v;
      case 'id':
        return result;
      case 'member':
        return get(ev(n.obj, result), n.name);
      case 'index': {
        const k = ev(n.index, result);
        return get(ev(n.obj, result), typeof k === 'number' ? k : String(k));
      }
      case 'call':
        return FUNCTIONS[n.name]!(n.args.map((a) => ev(a, result)));
      case 'unary': {
        const v = ev(n.arg, result);
        return n.op === '!' ? !truthy(v) : -toNumber(v);
      }
      case 'binary': {
        if (n.op === '&&') return truthy(ev(n.left, result)) && truthy(ev(n.right, result));
        if (n.op === '||') return truthy(ev(n.left, result)) || truthy(ev(n.right, result));
        const l = ev(n.left, result);
        const r = ev(n.right, result);
        switch (n.op) {
          case '==':
            return equal(l, r);
          case '!=':
            return !equal(l, r);
          case '+':
            return toNumber(l) + toNumber(r);
          case '-':
            return toNumber(l) - toNumber(r);
          case '*':
            return toNumber(l) * toNumber(r);
          case '/':
            return toNumber(l) / toNumber(r);
          default:
            return compare(n.op, l, r);
        }
      }
    }
  }

  return {
    source,
    evaluate(result) {
      return truthy(ev(root, result));
    },
  };
}

function truthy(v: Value): boolean {
  if (Array.isArray(v)) return v.length > 0;
  return Boolean(v);
}

function equal(a: Value, b: Value): boolean {
  if ((a === null || a === undefined) && (b === null || b === undefined)) return true;
  if (typeof a === 'number' || typeof b === 'number') return toNumber(a) === toNumber(b);
  return a === b;
}

function compare(op: string, a: Value, b: Value): boolean {
  const strings = typeof a === 'string' && typeof b === 'string';
  const x = strings ? a : toNumber(a);
  const y = strings ? b : toNumber(b);
  if (!strings && (Number.isNaN(x as number) || Number.isNaN(y as number))) return false;
  switch (op) {
    case '<':
      return x < y;
    case '<=':
      return x <= y;
    case '>':
      return x > y;
    default:
      return x >= y;
  }
}
