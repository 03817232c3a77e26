// `get services` rows: node ports and headless Services from the status the router writes.
import { describe, expect, it } from 'vitest';
import { contractService } from '../../src/cli/views.js';

describe('contractService', () => {
  it('carries node ports and clusterIP None from the status, and nothing extra otherwise', () => {
    const np = contractService({ namespace: 'default', name: 'np', address: '127.0.0.1:80', endpoints: ['127.0.0.1:4000'], weights: { r1: 100 }, nodePorts: [30555] }, []);
    expect(np).toEqual({ namespace: 'default', name: 'np', address: '127.0.0.1:80', endpoints: ['127.0.0.1:4000'], weights: { r1: 100 }, nodePorts: [30555] });
    const headless = contractService({ namespace: 'default', name: 'h', address: [], endpoints: ['127.0.0.1:4001'], weights: {}, clusterIP: 'None' }, []);
    expect(headless).toMatchObject({ clusterIP: 'None', address: [], endpoints: ['127.0.0.1:4001'] });
    const plain = contractService({ namespace: 'default', name: 'p', address: '127.0.0.1:81', endpoints: [], weights: {} }, []);
    expect(Object.keys(plain).sort()).toEqual(['address', 'endpoints', 'name', 'namespace', 'weights']);
  });
});
