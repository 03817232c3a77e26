// Checks on init containers, securityContext and the service account fields of a pod spec
// that JSON Schema cannot say. Every check is guarded by a type test.

import type { FieldPath } from './document.js';

type Obj = Record<string, unknown>;
type Report = (code: 'CAPSTAN_ERR_API_SCHEMA' | 'CAPSTAN_ERR_API_NAME', message: string, path: FieldPath, severity?: 'error' | 'warning') => void;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const where = (path: FieldPath): string => path.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');

const PROBES = ['livenessProbe', 'readinessProbe', 'startupProbe'];

/** Init containers (names, probes, lifecycle), `restartPolicy` on containers, securityContext and service account fields. */
export function checkPodContainers(pod: Obj, path: FieldPath, report: Report): void {
  const names = new Map<string, string>();
  list(pod.containers).forEach((c, i) => {
    if (!isObj(c)) return;
    if (typeof c.name === 'string') names.set(c.name, `containers[${i}]`);
    const cpath = [...path, 'containers', i];
    if (c.restartPolicy !== undefined) {
      report('CAPSTAN_ERR_API_SCHEMA', `${where([...cpath, 'restartPolicy'])} may only be set on an init container`, [...cpath, 'restartPolicy']);
    }
    checkSecurityContext(c.securityContext, [...cpath, 'securityContext'], report);
  });
  list(pod.initContainers).forEach((c, i) => {
    if (!isObj(c)) return;
    const cpath = [...path, 'initContainers', i];
    if (typeof c.name === 'string') {
      const other = names.get(c.name);
      if (other !== undefined) {
        report('CAPSTAN_ERR_API_SCHEMA', `${where([...cpath, 'name'])} "${c.name}" is already used by ${other}`, [...cpath, 'name']);
      } else {
        names.set(c.name, `initContainers[${i}]`);
      }
      if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(c.name)) {
        report('CAPSTAN_ERR_API_NAME', `${where([...cpath, 'name'])} "${c.name}" must be an RFC 1123 label (lowercase letters, digits and '-', at most 63)`, [
          ...cpath, 'name',
        ]);
      }
    }
    // A sidecar (restartPolicy Always) keeps running, so probes and preStop apply to it as to any container.
    const sidecar = c.restartPolicy === 'Always';
    if (!sidecar) {
      for (const probe of PROBES) {
        if (c[probe] !== undefined) {
          report('CAPSTAN_ERR_API_SCHEMA', `${where([...cpath, probe])} is not allowed on an init container (it runs to completion); only a sidecar with restartPolicy: Always may have probes`, [
            ...cpath, probe,
          ]);
        }
      }
      if (c.lifecycle !== undefined) {
        report('CAPSTAN_ERR_API_SCHEMA', `${where([...cpath, 'lifecycle'])} is not allowed on an init container unless it has restartPolicy: Always`, [...cpath, 'lifecycle']);
      }
    }
    checkSecurityContext(c.securityContext, [...cpath, 'securityContext'], report);
  });
  const psc = pod.securityContext;
  if (isObj(psc)) {
    const ppath = [...path, 'securityContext'];
    if (psc.sysctls !== undefined) {
      report('CAPSTAN_ERR_API_SCHEMA', `${where([...ppath, 'sysctls'])} is not applied by Capstan and is ignored`, [...ppath, 'sysctls'], 'warning');
    }
    checkProfiles(psc, ppath, report);
    if (psc.runAsNonRoot === true && psc.runAsUser === 0) {
      report('CAPSTAN_ERR_API_SCHEMA', `${where(ppath)} sets runAsNonRoot with runAsUser 0: its containers will not start`, [...ppath, 'runAsUser'], 'warning');
    }
  }
  if (pod.serviceAccount !== undefined) {
    const differs = typeof pod.serviceAccountName === 'string' && pod.serviceAccountName !== pod.serviceAccount;
    report(
      'CAPSTAN_ERR_API_SCHEMA',
      differs
        ? `${where([...path, 'serviceAccount'])} is deprecated and differs from serviceAccountName, which wins`
        : `${where([...path, 'serviceAccount'])} is deprecated: use serviceAccountName`,
      [...path, 'serviceAccount'],
      'warning',
    );
  }
  if (pod.automountServiceAccountToken !== undefined) {
    report(
      'CAPSTAN_ERR_API_SCHEMA',
      `${where([...path, 'automountServiceAccountToken'])} is ignored: Capstan mounts no service account token into pods`,
      [...path, 'automountServiceAccountToken'],
      'warning',
    );
  }
}

function checkSecurityContext(sc: unknown, path: FieldPath, report: Report): void {
  if (!isObj(sc)) return;
  if (sc.privileged === true && sc.allowPrivilegeEscalation === false) {
    report('CAPSTAN_ERR_API_SCHEMA', `${where(path)} cannot set allowPrivilegeEscalation to false and privileged to true`, [...path, 'allowPrivilegeEscalation']);
  }
  if (sc.runAsNonRoot === true && sc.runAsUser === 0) {
    report('CAPSTAN_ERR_API_SCHEMA', `${where(path)} sets runAsNonRoot with runAsUser 0: the container will not start`, [...path, 'runAsUser'], 'warning');
  }
  checkProfiles(sc, path, report);
}

function checkProfiles(sc: Obj, path: FieldPath, report: Report): void {
  for (const field of ['seccompProfile', 'appArmorProfile']) {
    const p = sc[field];
    if (!isObj(p)) continue;
    if (p.type === 'Localhost') {
      report('CAPSTAN_ERR_API_SCHEMA', `${where([...path, field])} Localhost is not enforced by Capstan: the runtime's default profile applies`, [...path, field, 'type'], 'warning');
    } else if (p.localhostProfile !== undefined) {
      report('CAPSTAN_ERR_API_SCHEMA', `${where([...path, field, 'localhostProfile'])} may only be set when type is Localhost`, [...path, field, 'localhostProfile']);
    }
  }
}
