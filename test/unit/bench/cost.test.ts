import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { controlPlanePids } from '../../../bench/control-plane.ts';
import {
  benchConfig,
  coldSyncLimitSeconds,
  cpuFigures,
  namespaceDeletionPolls,
  readCpu,
  renderMarkdown,
  resumeMismatch,
  SCENARIOS,
} from '../../../bench/run.ts';
import { summarise } from '../../../bench/stats.ts';

describe("the whole system's cost", () => {
  it("counts the API server's and etcd's CPU beside the system's, and their sum, per minute in steady state", () => {
    const before = { system: 10, apiServer: 100, etcd: 50 };
    const after = { system: 14, apiServer: 106, etcd: 52 };
    assert.deepEqual(cpuFigures('c-cold', before, after), {
      'c-cold-cpu': 4,
      'c-cold-apiserver-cpu': 6,
      'c-cold-etcd-cpu': 2,
      'c-cold-total-cpu': 12,
    });
    assert.deepEqual(cpuFigures('d-steady', before, after, 2), {
      'd-steady-cpu': 2,
      'd-steady-apiserver-cpu': 3,
      'd-steady-etcd-cpu': 1,
      'd-steady-total-cpu': 6,
    });
    for (const key of Object.keys(cpuFigures('d-steady', before, after)))
      assert.ok(SCENARIOS[key], `${key} has a row in the table`);
  });

  it('reads the CPU of processes from /proc, the control plane with the same reader', () => {
    const reading = readCpu([process.pid], { apiServer: process.pid, etcd: process.pid });
    assert.ok(reading.system > 0);
    // The same process read twice, the API server first: its CPU time can only have grown in between
    // (equality would fail whenever a clock tick falls between the two reads).
    assert.ok(reading.apiServer > 0);
    assert.ok(reading.apiServer <= reading.etcd, `${reading.apiServer} then ${reading.etcd}`);
  });

  it("finds the API server's and etcd's pids among the cluster's components, or says which is missing", () => {
    const components = [
      { name: 'etcd', pid: 11, running: true, log: 'etcd.log' },
      { name: 'kube-apiserver', pid: 12, running: true, log: 'apiserver.log' },
      { name: 'kwok', pid: 13, running: true, log: 'kwok.log' },
    ];
    assert.deepEqual(controlPlanePids('capstan-bench', components), { apiServer: 12, etcd: 11 });
    assert.throws(
      () => controlPlanePids('capstan-bench', components.slice(1)),
      /cluster capstan-bench: etcd is not recorded; start it again with `npm run capstan -- dev-cluster up --name capstan-bench`/,
    );
    assert.throws(
      () =>
        controlPlanePids('capstan-bench', [
          { name: 'etcd', pid: 11, running: true, log: '' },
          { name: 'kube-apiserver', pid: 12, running: false, log: '' },
        ]),
      /kube-apiserver is not running \(pid 12\)/,
    );
  });

  it("shows the API server's, etcd's and the total CPU beside each system's, the raw client's control-plane cost too", () => {
    const md = renderMarkdown(
      {
        started: '2026-12-06T00:00:00.000Z',
        machine: '2 × test cpu',
        config: benchConfig({ quick: false, apps: 1000 }),
        systems: { Capstan: 'the agent', Flux: 'controllers', 'Argo CD': 'controller' },
        skipped: {},
        summaries: {
          'c-cold-cpu': { Capstan: summarise([30]), Flux: summarise([900]), 'Argo CD': summarise([1200]) },
          'c-cold-apiserver-cpu': {
            Capstan: summarise([40]),
            Flux: summarise([300]),
            'Argo CD': summarise([200]),
            'raw SSA client': summarise([20]),
          },
          'c-cold-etcd-cpu': { Capstan: summarise([10]), Flux: summarise([60]), 'Argo CD': summarise([50]) },
          'c-cold-total-cpu': {
            Capstan: summarise([80]),
            Flux: summarise([1260]),
            'Argo CD': summarise([1450]),
          },
          'd-steady-apiserver-cpu': { Capstan: summarise([0.5]), Flux: summarise([20]) },
        },
      },
      [],
    );
    const row = (title: string) => md.split('\n').find((l) => l.startsWith(`| ${title}`)) ?? '';
    assert.match(
      row("c. cold sync: the API server's CPU seconds meanwhile"),
      /\| 40\.0 \(p99 40\.0; 40\.0–40\.0\) \| 300\.0 .* \| 200\.0 .* \| 20\.0 .* \| Flux 7\.50×, Argo CD 5\.00×, raw SSA client 0\.50× \|/,
    );
    assert.match(
      row("c. cold sync: etcd's CPU seconds meanwhile"),
      /\| 10\.0 .* \| 60\.0 .* \| 50\.0 .* \| — \|/,
    );
    assert.match(
      row('c. cold sync: CPU seconds of the system, the API server and etcd together'),
      /Flux 15\.75×, Argo CD 18\.13×/,
    );
    assert.match(
      row("d. steady state: the API server's CPU seconds per minute meanwhile"),
      /\| 0\.50 .* Flux 40\.00×/,
    );
    // The rows follow the system's own CPU row, in the order of the scenarios.
    const order = md.split('\n').map((l) => l.split(' (')[0]);
    assert.ok(
      order.indexOf('| c. cold sync: CPU seconds') <
        order.indexOf("| c. cold sync: the API server's CPU seconds meanwhile"),
    );
    assert.match(md, /the API\nserver's and etcd's CPU seconds the same way/);
  });

  it('says a profiled run is one, and does not resume a profiled result without --profile, nor the reverse', () => {
    const config = benchConfig({ quick: false });
    const doc = {
      started: '2026-12-06T00:00:00.000Z',
      machine: 'm',
      config,
      systems: { Capstan: '' },
      skipped: {},
      summaries: {},
    };
    assert.match(renderMarkdown({ ...doc, profiled: true }, ['--profile']), /Profiled \(`--profile`\)/);
    assert.match(renderMarkdown(doc, []), /concurrency 8 for every system/);
    assert.match(
      renderMarkdown({ ...doc, peersByScale: true }, []),
      /Capstan's concurrency 8, the peers' settings those their maintainers recommend for the scale/,
    );
    assert.doesNotMatch(renderMarkdown(doc, []), /Profiled/);
    const previous = {
      config,
      machine: 'm',
      systems: { Capstan: '' },
      scenarios: ['c', 'd'],
      done: [],
      peersByScale: true,
    };
    const now = { config, machine: 'm', systems: ['Capstan'], scenarios: ['c', 'd'] };
    assert.equal(resumeMismatch(previous, now), undefined);
    assert.match(resumeMismatch({ ...previous, profiled: true }, now) ?? '', /it was profiled/);
    assert.match(resumeMismatch(previous, { ...now, profiled: true }) ?? '', /it was not profiled/);
  });

  it('lets a cold sync take an hour, two from 10 000 applications', () => {
    assert.equal(coldSyncLimitSeconds(1000), 3600);
    assert.equal(coldSyncLimitSeconds(9999), 3600);
    assert.equal(coldSyncLimitSeconds(10_000), 7200);
  });

  it('waits at least five minutes for a dropped namespace, longer for 100 000 objects', () => {
    assert.equal(namespaceDeletionPolls(10_000), 600);
    assert.equal(namespaceDeletionPolls(100_000), 2000);
  });
});
