// Work-queue keys of the form `<Kind>/<namespace>/<name>`, and ISO times, as every controller
// of a namespaced kind uses them.

/** `<kind>/<ns>/<name>` → namespace and name; undefined for another kind or a malformed key. */
export function parseObjectKey(kind: string, key: string): { namespace: string; name: string } | undefined {
  const parts = key.split('/');
  if (parts.length !== 3 || parts[0] !== kind || parts[1] === '' || parts[2] === '') return undefined;
  return { namespace: parts[1]!, name: parts[2]! };
}

/** Milliseconds since the epoch → an ISO time. */
export const iso = (ms: number): string => new Date(ms).toISOString();

/** An ISO time → milliseconds since the epoch; undefined when absent or unreadable. */
export const ms = (t: string | undefined): number | undefined => {
  const v = t === undefined ? Number.NaN : Date.parse(t);
  return Number.isNaN(v) ? undefined : v;
};
