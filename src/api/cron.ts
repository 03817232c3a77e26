// Five-field cron syntax as Kubernetes CronJobs accept it (robfig/cron's standard parser):
// minute hour day-of-month month day-of-week, names for months and weekdays, `?` for either
// day field, and the @hourly-style macros. Six-field (seconds) schedules are not Kubernetes.

const MACROS = new Set(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly']);
const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: string[];
  namesFrom?: number;
  question?: boolean;
}

const FIELDS: FieldSpec[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31, question: true },
  { name: 'month', min: 1, max: 12, names: MONTHS, namesFrom: 1 },
  { name: 'day of week', min: 0, max: 7, names: DAYS, namesFrom: 0, question: true },
];

/** Undefined when the schedule is valid, else what is wrong with it. */
export function cronProblem(schedule: string): string | undefined {
  const s = schedule.trim();
  if (s.startsWith('TZ=') || s.startsWith('CRON_TZ=')) return 'set the time zone with spec.timeZone, not inside the schedule';
  if (s.startsWith('@')) return MACROS.has(s) ? undefined : `unknown macro ${s}`;
  const parts = s.split(/\s+/);
  if (parts.length !== 5) return `expected 5 fields (minute hour day-of-month month day-of-week), got ${parts.length}`;
  for (let i = 0; i < 5; i++) {
    const problem = fieldProblem(parts[i], FIELDS[i]);
    if (problem) return `${FIELDS[i].name} field "${parts[i]}": ${problem}`;
  }
  return undefined;
}

function fieldProblem(field: string, spec: FieldSpec): string | undefined {
  if (field === '?' && spec.question) return undefined;
  for (const item of field.split(',')) {
    const [range, step, extra] = item.split('/');
    if (extra !== undefined) return 'more than one "/"';
    if (step !== undefined && !/^[0-9]+$/.test(step)) return `step "${step}" is not a number`;
    if (step !== undefined && Number(step) === 0) return 'step must be at least 1';
    if (range === '*') continue;
    const bounds = range.split('-');
    if (bounds.length > 2) return `"${range}" is not a value or a range`;
    const values: number[] = [];
    for (const b of bounds) {
      const v = valueOf(b, spec);
      if (v === undefined) return `"${b}" is not a valid value`;
      if (v < spec.min || v > spec.max) return `${v} is outside ${spec.min}-${spec.max}`;
      values.push(v);
    }
    if (values.length === 2 && values[0] > values[1]) return `range ${range} runs backwards`;
  }
  return undefined;
}

function valueOf(token: string, spec: FieldSpec): number | undefined {
  if (/^[0-9]+$/.test(token)) return Number(token);
  const i = spec.names?.indexOf(token.toUpperCase()) ?? -1;
  return i >= 0 ? i + (spec.namesFrom ?? 0) : undefined;
}
