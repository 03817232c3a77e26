// The routing-mesh flags of `capstan agent` and `capstan join`: the node's address, its
// external address (LoadBalancer Services), and whether it runs its own Service router.
import { isIPv4, isIPv6 } from 'node:net';
import { CapstanError } from '../../common/index.js';
import type { ServiceRouterOptions } from '../../agent/node-router.js';

export interface MeshCommandOptions {
  /** `--address`: the node's address, reported for it and its pods (default 127.0.0.1). */
  address?: string;
  /** `--external-address`: where LoadBalancer Services are served on this node (default the node's address). */
  externalAddress?: string;
  /** commander's `--no-service-router` negation: false runs no Service router on this node. */
  serviceRouter?: boolean;
}

function ipFlag(flag: string, value: string | undefined, what: string): string | undefined {
  if (value === undefined) return undefined;
  if (!isIPv4(value) && !isIPv6(value)) throw new CapstanError('CAPSTAN_ERR_CLI_USAGE', `${flag} takes an IP address of this host (${what}), got "${value}"`);
  return value;
}

/** The flags → NodeAgent options (`address`, `serviceRouter`); usage errors name the flag. */
export function parseMeshOptions(opts: MeshCommandOptions): { address?: string; serviceRouter?: ServiceRouterOptions } {
  const address = ipFlag('--address', opts.address, 'other nodes reach its pods there');
  const externalAddress = ipFlag('--external-address', opts.externalAddress, 'LoadBalancer Services are served there');
  if (opts.serviceRouter === false && externalAddress !== undefined) {
    throw new CapstanError('CAPSTAN_ERR_CLI_USAGE', '--external-address is where this node\'s Service router serves LoadBalancer Services: drop it, or drop --no-service-router');
  }
  return {
    ...(address !== undefined ? { address } : {}),
    ...(opts.serviceRouter === false ? {} : { serviceRouter: externalAddress !== undefined ? { externalAddress } : {} }),
  };
}
