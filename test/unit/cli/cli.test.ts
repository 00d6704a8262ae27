import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseOutput, table } from '../../../src/cli/output.ts';

const CLI = join(import.meta.dirname, '..', '..', '..', 'bin', 'capstan.js');
const capstan = (...args: string[]) =>
  spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, CAPSTAN_STATE_DIR: '/nonexistent-capstan-state' },
  });

describe('capstan CLI', () => {
  it('prints help and exits 0 with --help', () => {
    const r = capstan('--help');
    assert.equal(r.status, 0);
    assert.match(r.stdout, /Usage: capstan <command>/);
  });

  it('refuses an unknown flag with exit 2 and names it', () => {
    const r = capstan('dev-cluster', 'up', '--bogus');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /Unknown option '--bogus'/);
  });

  it('refuses an unknown command with exit 2', () => {
    const r = capstan('frobnicate');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown command 'frobnicate'/);
    assert.equal(capstan('dev-cluster', 'sideways').status, 2);
  });

  it('refuses a bad cluster name, a bad port and a bad output format before doing anything', () => {
    const name = capstan('dev-cluster', 'up', '--name', '../x');
    assert.equal(name.status, 4);
    assert.match(name.stderr, /cluster name '..\/x' is not valid/);
    const port = capstan('dev-cluster', 'up', '--port', '99999');
    assert.equal(port.status, 2);
    assert.match(port.stderr, /--port must be a positive whole number/);
    const output = capstan('dev-cluster', 'status', '-o', 'xml');
    assert.equal(output.status, 2);
    assert.match(output.stderr, /-o must be one of table, json, yaml/);
  });

  it('checks the agent lease and render flags before connecting to anything', () => {
    const refused = (args: string[], message: RegExp) => {
      const r = capstan('agent', ...args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    };
    refused(['--lease-duration', '2.5s'], /--lease-duration must be a whole number of seconds, not '2.5s'/);
    refused(['--lease-duration', '3s', '--renew-deadline', '3s'], /--renew-deadline must be shorter than/);
    refused(['--render-timeout', '0s'], /--render-timeout must be longer than zero/);
    refused(
      ['--namespace', 'Capstan_System'],
      /--namespace must be a namespace name \(a DNS label\), not 'Capstan_System'/,
    );
    refused(
      ['--default-service-account', 'Deployer!'],
      /--default-service-account must be a ServiceAccount name \(a DNS subdomain\), not 'Deployer!'/,
    );
    refused(['--inventory-namespace', 'a_b'], /--inventory-namespace must be a namespace name/);
    refused(
      ['--render-sandbox', 'gvisor'],
      /--render-sandbox must be auto, bubblewrap, landlock, off, not 'gvisor'/,
    );
    const help = capstan('agent', '--help');
    assert.equal(help.status, 0);
    assert.match(help.stdout, /--lease-duration DURATION/);
    assert.match(help.stdout, /--namespace NS +the agent's own namespace/);
    assert.match(help.stdout, /--render-timeout DURATION .*\(default: 60s\)/);
    assert.match(help.stdout, /--default-service-account NAME/);
    assert.match(
      help.stdout,
      /--render-sandbox MODE +where kustomize and helm run[^]*?: auto \(default: bubblewrap where user/,
    );
  });

  it('lists no clusters as an empty JSON array', () => {
    const r = capstan('dev-cluster', 'status', '-o', 'json');
    assert.equal(r.status, 0);
    assert.deepEqual(JSON.parse(r.stdout), []);
  });

  it('says there is no kubeconfig, and what to do, instead of a stack trace', () => {
    const home = mkdtempSync(join(tmpdir(), 'capstan-home-'));
    try {
      const r = spawnSync(process.execPath, [CLI, 'app', 'diff', 'web', '-n', 'team'], {
        encoding: 'utf8',
        env: { PATH: process.env['PATH'] ?? '', HOME: home, CAPSTAN_STATE_DIR: '/nonexistent-capstan-state' },
      });
      assert.equal(r.status, 4);
      assert.match(r.stderr, /\[KUBECONFIG_INVALID\]: no kubeconfig: KUBECONFIG is not set/);
      assert.match(r.stderr, /pass --kubeconfig FILE or set KUBECONFIG/);
      assert.doesNotMatch(r.stderr, /unexpected error|\n\s+at /);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('says a cluster is not running when asked for its kubeconfig', () => {
    const r = capstan('dev-cluster', 'kubeconfig', '--name', 'nothing-here');
    assert.equal(r.status, 4);
    assert.match(r.stderr, /cluster 'nothing-here' is not running/);
  });
});

describe('printers', () => {
  it('aligns columns kubectl style', () => {
    assert.equal(
      table(
        ['NAME', 'STATUS'],
        [
          ['dev', 'Running'],
          ['capstan-test', 'Stopped'],
        ],
      ),
      'NAME           STATUS\ndev            Running\ncapstan-test   Stopped\n',
    );
  });

  it('accepts table, json and yaml', () => {
    assert.equal(parseOutput(undefined), 'table');
    assert.equal(parseOutput('yaml'), 'yaml');
    assert.throws(() => parseOutput('wide'), /-o must be one of/);
  });
});
