// Where a node's Service router serves, from the agent's flags.
import { describe, expect, it } from 'vitest';
import { nodeRouterSettings } from '../../src/agent/node-router.js';
import { parseMeshOptions } from '../../src/cli/commands/agent-mesh.js';

describe('node router settings', () => {
  it('serve Service ports at the service host, node ports at the node and external addresses, LoadBalancers on the external address', () => {
    expect(nodeRouterSettings({}, { address: '127.0.0.5', serviceHost: '127.0.0.5' })).toEqual({
      bindAddress: '127.0.0.5',
      nodePortAddresses: ['127.0.0.5'],
      loadBalancerAddresses: ['127.0.0.5'],
    });
    expect(nodeRouterSettings({ externalAddress: '127.0.0.7' }, { address: '127.0.0.5', serviceHost: '127.0.0.9' })).toEqual({
      bindAddress: '127.0.0.9',
      nodePortAddresses: ['127.0.0.5', '127.0.0.7'],
      loadBalancerAddresses: ['127.0.0.7'],
    });
    // A wildcard service address already covers every address of the node.
    expect(nodeRouterSettings({ externalAddress: '127.0.0.7' }, { address: '127.0.0.5', serviceHost: '0.0.0.0' }).nodePortAddresses).toEqual(['0.0.0.0']);
    // Explicit settings win.
    expect(nodeRouterSettings({ nodePortAddresses: ['127.0.0.1'], bindAddress: '127.0.0.1' }, { address: '127.0.0.5', serviceHost: '127.0.0.5' })).toMatchObject({
      bindAddress: '127.0.0.1',
      nodePortAddresses: ['127.0.0.1'],
    });
  });

  it('come from --address, --external-address and --no-service-router', () => {
    expect(parseMeshOptions({})).toEqual({ serviceRouter: {} });
    expect(parseMeshOptions({ address: '127.0.0.5', externalAddress: '127.0.0.7', serviceRouter: true })).toEqual({ address: '127.0.0.5', serviceRouter: { externalAddress: '127.0.0.7' } });
    expect(parseMeshOptions({ serviceRouter: false })).toEqual({});
    expect(() => parseMeshOptions({ address: 'node-1' })).toThrow(/--address takes an IP address/);
    expect(() => parseMeshOptions({ externalAddress: '1.2.3' })).toThrow(/--external-address takes an IP address/);
    expect(() => parseMeshOptions({ serviceRouter: false, externalAddress: '127.0.0.7' })).toThrow(/drop --no-service-router/);
  });
});
