// The command line every test's `capstan agent` process gets (src/testing/agent-process.ts): the same
// flags the tests each wrote before, once.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseArgs } from 'node:util';
import { AGENT_OPTIONS } from '../../../src/cli/commands/agent.ts';
import { agentProcessArgs } from '../../../src/testing/agent-process.ts';

/** The flags as the agent's own parser reads them (strict: each one is the agent's): the last of one given twice wins. */
const read = (args: readonly string[]) =>
  parseArgs({ args: [...args], strict: true, allowPositionals: false, options: AGENT_OPTIONS }).values;

describe('agentProcessArgs', () => {
  it('gives one agent of the test’s Applications, loopback only, on free ports', () => {
    const values = read(
      agentProcessArgs({ kubeconfig: '/k/agent.kubeconfig', selector: 'capstan.dev/test=a' }),
    );
    assert.deepEqual(
      { ...values },
      {
        'allow-repository-host': ['127.0.0.1'],
        kubeconfig: '/k/agent.kubeconfig',
        selector: 'capstan.dev/test=a',
        'no-leader-election': true,
        'bind-address': '127.0.0.1',
        port: '0',
        'metrics-port': '0',
        'webhook-port': '0',
      },
    );
  });

  it('elects a leader on the test’s own Lease when given one, and adds the test’s flags last', () => {
    const args = agentProcessArgs({
      kubeconfig: '/k/agent.kubeconfig',
      selector: 'capstan.dev/test=b',
      lease: { namespace: 'ns-1', name: 'capstan-failover', seconds: 3 },
      extraArgs: ['--namespace', 'capstan-system', '--port', '8081'],
    });
    const values = read(args);
    assert.equal(values['no-leader-election'], undefined);
    assert.equal(values['lease-namespace'], 'ns-1');
    assert.equal(values['lease-name'], 'capstan-failover');
    assert.equal(values['lease-duration'], '3s');
    assert.equal(values.namespace, 'capstan-system');
    assert.equal(values.port, '8081', 'a flag the test gives again wins');
    assert.equal(values['metrics-port'], '0');
    assert.deepEqual(values['allow-repository-host'], ['127.0.0.1']);
  });
});
