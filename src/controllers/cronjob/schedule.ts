// The schedule core: when a 5-field cron expression fires, in an IANA time zone. Pure: every
// instant comes in as an argument. The grammar is the one src/api/cron.ts validates
// (robfig/cron's standard parser, as Kubernetes uses it): names, ranges, steps, `?`, macros.
// Wall-clock minutes are matched in the zone, then mapped back to instants with
// Intl.DateTimeFormat: a wall time skipped by a DST jump never fires, and one repeated by a
// fall-back fires at its first occurrence (and again at its second, as robfig does for
// explicit hours).
import { CapstanError } from '../../common/errors.js';
import { cronProblem } from '../../api/cron.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** Days searched ahead for a match: covers 29 February in the worst leap-year gap (8 years). */
const MAX_DAYS = 366 * 8 + 2;

const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};
const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

/** A parsed schedule: the allowed values of each field, sorted, and the zone it runs in. */
export interface CronSchedule {
  expression: string;
  timeZone: string;
  minutes: readonly number[];
  hours: readonly number[];
  daysOfMonth: ReadonlySet<number>;
  months: ReadonlySet<number>;
  daysOfWeek: ReadonlySet<number>;
  /** robfig: when either day field is `*`/`?`, both must match; otherwise either may. */
  dayStar: boolean;
}

interface Field {
  values: Set<number>;
  star: boolean;
}

function parseField(text: string, min: number, max: number, names?: string[], namesFrom = 0): Field {
  const values = new Set<number>();
  let star = false;
  const value = (t: string): number => {
    if (/^[0-9]+$/.test(t)) return Number(t);
    const i = names?.indexOf(t.toUpperCase()) ?? -1;
    return i + namesFrom;
  };
  for (const item of text.split(',')) {
    const [range = '', stepText] = item.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    let lo: number;
    let hi: number;
    if (range === '*' || range === '?') {
      star = true;
      lo = min;
      hi = max;
    } else {
      const [a = '', b] = range.split('-');
      lo = value(a);
      // robfig: `N/step` means N through the maximum.
      hi = b !== undefined ? value(b) : stepText !== undefined ? max : lo;
    }
    for (let v = lo; v <= hi; v += step) values.add(v);
  }
  return { values, star };
}

/** Parses a schedule validated by the API (throws CAPSTAN_ERR_API_SCHEMA when it is not valid). */
export function parseSchedule(expression: string, timeZone = 'UTC'): CronSchedule {
  const problem = cronProblem(expression);
  if (problem) {
    throw new CapstanError('CAPSTAN_ERR_API_SCHEMA', `schedule "${expression}" is not a valid cron schedule: ${problem}`, { field: 'spec.schedule' });
  }
  try {
    formatter(timeZone);
  } catch (cause) {
    throw new CapstanError('CAPSTAN_ERR_API_SCHEMA', `spec.timeZone "${timeZone}" is not an IANA time zone this runtime knows`, { field: 'spec.timeZone', cause });
  }
  const trimmed = expression.trim();
  const parts = (MACROS[trimmed] ?? trimmed).split(/\s+/) as [string, string, string, string, string];
  const minute = parseField(parts[0], 0, 59);
  const hour = parseField(parts[1], 0, 23);
  const dom = parseField(parts[2], 1, 31);
  const month = parseField(parts[3], 1, 12, MONTHS, 1);
  const dow = parseField(parts[4], 0, 7, DAYS, 0);
  if (dow.values.has(7)) dow.values.add(0); // 7 is Sunday too
  return {
    expression,
    timeZone,
    minutes: [...minute.values].sort((a, b) => a - b),
    hours: [...hour.values].sort((a, b) => a - b),
    daysOfMonth: dom.values,
    months: month.values,
    daysOfWeek: dow.values,
    dayStar: dom.star || dow.star,
  };
}

// ---- wall-clock time in a zone ----

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

const isUtc = (zone: string): boolean => zone === 'UTC' || zone === 'Etc/UTC' || zone === 'Etc/GMT' || zone === 'GMT';

/** The zone's wall-clock time at instant `t`, as milliseconds of a naive (UTC-labelled) date. */
export function wallTime(t: number, timeZone: string): number {
  if (isUtc(timeZone)) return t;
  const p: Record<string, number> = {};
  for (const part of formatter(timeZone).formatToParts(new Date(t))) if (part.type !== 'literal') p[part.type] = Number(part.value);
  const hour = p.hour === 24 ? 0 : (p.hour ?? 0);
  return Date.UTC(p.year ?? 1970, (p.month ?? 1) - 1, p.day ?? 1, hour, p.minute ?? 0, p.second ?? 0) + (t - Math.floor(t / 1000) * 1000);
}

/** Wall time minus instant at `t` (e.g. +1 h for Berlin in winter). */
function offsetAt(t: number, timeZone: string): number {
  return wallTime(t, timeZone) - t;
}

/** Every instant whose wall time in the zone is `wall`: none in a DST gap, two in a fall-back. */
export function instantsOf(wall: number, timeZone: string): number[] {
  if (isUtc(timeZone)) return [wall];
  // Any such instant lies within [wall - 14 h, wall + 12 h]; the offsets at both ends are the
  // only ones it can have (zones do not change offset twice in a day).
  const offsets = new Set([offsetAt(wall - 15 * HOUR, timeZone), offsetAt(wall + 13 * HOUR, timeZone)]);
  const out: number[] = [];
  for (const o of offsets) {
    const t = wall - o;
    if (offsetAt(t, timeZone) === o) out.push(t);
  }
  return out.sort((a, b) => a - b);
}

function dayMatches(s: CronSchedule, day: Date): boolean {
  if (!s.months.has(day.getUTCMonth() + 1)) return false;
  const dom = s.daysOfMonth.has(day.getUTCDate());
  const dow = s.daysOfWeek.has(day.getUTCDay());
  return s.dayStar ? dom && dow : dom || dow;
}

/** Matching wall-clock minutes at or after `from` (a naive wall time), ascending. */
function* wallMinutes(s: CronSchedule, from: number): Generator<number> {
  let day = Math.floor(from / DAY) * DAY;
  for (let i = 0; i < MAX_DAYS; i++, day += DAY) {
    if (!dayMatches(s, new Date(day))) continue;
    for (const h of s.hours) {
      if (day + h * HOUR + 59 * MINUTE < from) continue;
      for (const m of s.minutes) {
        const w = day + h * HOUR + m * MINUTE;
        if (w >= from) yield w;
      }
    }
  }
}

/** The first instant strictly after `after` at which the schedule fires; undefined if never (e.g. 30 February). */
export function nextFireAfter(s: CronSchedule, after: number): number | undefined {
  const start = Math.floor(after / MINUTE) * MINUTE + MINUTE;
  const zone = s.timeZone;
  // Near a fall-back, later instants can have earlier wall times: scan from 3 h before and
  // keep the earliest instant found within 3 h of wall time after the first hit.
  const nearTransition = !isUtc(zone) && offsetAt(start, zone) !== offsetAt(start + 3 * HOUR, zone);
  const wallStart = wallTime(start, zone);
  let best: number | undefined;
  let firstWall: number | undefined;
  for (const w of wallMinutes(s, nearTransition ? wallStart - 3 * HOUR : wallStart)) {
    if (firstWall !== undefined && w > firstWall + 3 * HOUR) break;
    for (const t of instantsOf(w, zone)) {
      if (t < start) continue;
      if (best === undefined || t < best) best = t;
      firstWall ??= w;
    }
    if (best !== undefined && !nearTransition) break;
  }
  return best;
}

/**
 * The most recent fire time in `(after, upTo]` and how many fire times that interval holds
 * (capped at `cap`). Kubernetes starts only the most recent missed run, so the search looks
 * back through growing windows instead of walking every minute since `after`.
 */
export function mostRecentFire(s: CronSchedule, after: number, upTo: number, cap = 100): { at?: number; missed: number } {
  for (const window of [HOUR, DAY, 32 * DAY, 366 * DAY, Number.POSITIVE_INFINITY]) {
    const lo = Math.max(after, upTo - window);
    let last: number | undefined;
    let n = 0;
    for (let t = nextFireAfter(s, lo); t !== undefined && t <= upTo; t = nextFireAfter(s, t)) {
      last = t;
      n++;
      if (n >= 100_000) break;
    }
    if (last !== undefined) {
      // The count is exact only when the window reached back to `after`.
      const missed = lo === after ? Math.min(n, cap) : cap;
      return { at: last, missed };
    }
    if (lo === after) break;
  }
  return { missed: 0 };
}
