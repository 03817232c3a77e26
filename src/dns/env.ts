// The Service environment variables a pod gets, in Kubernetes' (Docker links') format, for the
// Services of its own namespace: `<SVC>_SERVICE_HOST`, `<SVC>_SERVICE_PORT[_<PORT NAME>]`,
// `<SVC>_PORT` and `<SVC>_PORT_<port>_<PROTO>[_PROTO|_PORT|_ADDR]`. Headless Services get none.
import type { DnsService } from './records.js';

export interface EnvVar {
  name: string;
  value: string;
}

/** A Service or port name as a variable name part: upper case, dashes to underscores. */
export function envName(name: string): string {
  return name.toUpperCase().replace(/-/g, '_');
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * The variables for the Services of `namespace`, each served at `routerHost`, in Service name
 * order (then port order). Services without ports are left out, as are headless ones.
 */
export function serviceEnvironment(services: readonly DnsService[], namespace: string, routerHost: string): EnvVar[] {
  const out: EnvVar[] = [];
  const mine = services
    .filter((s) => s.namespace === namespace && !s.headless && s.ports.length > 0)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const svc of mine) {
    const prefix = envName(svc.name);
    out.push({ name: `${prefix}_SERVICE_HOST`, value: routerHost });
    out.push({ name: `${prefix}_SERVICE_PORT`, value: String(svc.ports[0].port) });
    for (const p of svc.ports) {
      if (p.name !== undefined && p.name !== '') out.push({ name: `${prefix}_SERVICE_PORT_${envName(p.name)}`, value: String(p.port) });
    }
    svc.ports.forEach((p, i) => {
      const proto = (p.protocol ?? 'TCP').toUpperCase();
      const url = `${proto.toLowerCase()}://${hostPort(routerHost, p.port)}`;
      if (i === 0) out.push({ name: `${prefix}_PORT`, value: url });
      const portPrefix = `${prefix}_PORT_${p.port}_${proto}`;
      out.push({ name: portPrefix, value: url });
      out.push({ name: `${portPrefix}_PROTO`, value: proto.toLowerCase() });
      out.push({ name: `${portPrefix}_PORT`, value: String(p.port) });
      out.push({ name: `${portPrefix}_ADDR`, value: routerHost });
    });
  }
  return out;
}
