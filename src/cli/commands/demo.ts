import { parseArgs } from 'node:util';
import { demoDown, demoUp, type DemoSummary } from '../../main/demo.ts';
import { EXIT, parseOutput, print, table, UsageError } from '../output.ts';

export const DEMO_HELP = `Usage: capstan demo up|down [--real-node] [--name NAME] [--purge] [-o table|json|yaml]

up     a real local control plane, a git server holding the demo configuration (plain YAML, a
       Kustomize overlay, a Helm chart), the Capstan agent, the API server (capstan server, with its
       URL, user and password printed), and one Application per example; waits until they are
       Synced and Healthy, then prints where to look. Running parts are reused.
down   stops the API server, the agent, the git server and the control plane of the demo. Its
       folder stays (the server's store, the admin password, the git repositories): the next up
       reuses them, and prints the same admin password.

--real-node  (up) the control plane gets a real node beside its kwok nodes: containerd, kubelet and
             kube-proxy in a network namespace of their own, and a local image registry (needs root;
             see docs/real-node.md). The demo then builds its own HTTP server (examples/hello-http)
             with BuildKit, pushes it to that registry, commits its digest to the demo repository and
             syncs it as the Application hello-http, answering at the URL printed. Its code is the
             git server's repository hello-http.git, whose Pipeline hello-http (polled every 10 s)
             runs its unit test and builds its image with BuildKit in the cluster at each push to
             main; the Environment hello-http promotes each Succeeded run's image by digest into the
             demo repository, and the new version answers at that URL.
             The agent and the API server run as users install them: install.yaml's Deployments
             with Capstan's image (built by the cluster's BuildKit), the agent's two pods on the
             real node (one leading) and the server's pod beside them; their Services answer on
             the machine's loopback at the URLs printed (forwarders that demo down stops).
--name NAME  the demo's cluster and folder (default demo): another name runs a second demo beside it.
--purge      (down) also remove the demo's folder: its state, the admin password, the server's store,
             the git server's repositories and the logs; and, once the control plane is stopped, the
             cluster's folder (clusters/NAME: its state, certificates, etcd data and logs; never
             while it runs); the next up starts afresh.
`;

export async function demo(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    strict: true,
    options: {
      output: { type: 'string', short: 'o' },
      help: { type: 'boolean', short: 'h' },
      'real-node': { type: 'boolean' },
      name: { type: 'string' },
      purge: { type: 'boolean' },
    },
  });
  if (command === undefined || command === '--help' || command === '-h' || values.help === true) {
    process.stdout.write(DEMO_HELP);
    return command === undefined ? EXIT.usage : EXIT.ok;
  }
  const format = parseOutput(values.output);
  if (command === 'down') {
    const stopped = await demoDown({
      ...(values.name === undefined ? {} : { name: values.name }),
      purge: values.purge === true,
    });
    process.stderr.write(
      stopped.length > 0 ? `stopped ${stopped.join(', ')}\n` : 'the demo was not running\n',
    );
    return EXIT.ok;
  }
  if (command !== 'up') throw new UsageError(`unknown demo command '${command}' (expected up or down)`);
  if (values.purge === true) throw new UsageError('--purge is an option of demo down');
  const summary = await demoUp((line) => process.stderr.write(`${line}\n`), {
    realNode: values['real-node'] === true,
    ...(values.name === undefined ? {} : { name: values.name }),
  });
  print(format, summary, () => upText(summary, values.name));
  return EXIT.ok;
}

/** What `demo up` prints: the applications, where to look, what to try. */
function upText(summary: DemoSummary, name: string | undefined): string {
  const downCommand = `npm run capstan -- demo down${name === undefined ? '' : ` --name ${name}`}`;
  const kubectl = `kubectl --kubeconfig ${summary.kubeconfig}`;
  const cloneUrl = summary.gitUrl.replace('://', `://${summary.gitUsername}@`);
  return [
    '',
    'Capstan demo is up.',
    '',
    table(
      ['APPLICATION', 'NAMESPACE', 'SYNC', 'HEALTH', 'REVISION'],
      summary.applications.map((a) => [a.name, a.namespace, a.sync, a.health, a.revision]),
    ),
    'Where to look:',
    `  cluster      ${summary.server}`,
    `  kubeconfig   ${summary.kubeconfig}`,
    `  git          ${summary.gitUrl}  (user ${summary.gitUsername}, password ${summary.gitPassword})`,
    `  server       ${summary.serverUrl}  (API and web UI; user ${summary.serverUser}, password ${
      summary.serverPassword ??
      'unknown: neither the Secret capstan-initial-admin nor the demo folder keeps it (demo down --purge starts afresh)'
    })`,
    ...agentLines(summary, name ?? 'demo'),
    `  logs         ${summary.logs}`,
    ...(summary.helloUrl === undefined
      ? []
      : [
          `  hello-http   ${summary.helloUrl}  (the demo's own image on the real node, as the demo repository names it: ${summary.helloImage ?? ''})`,
        ]),
    '',
    'Try:',
    `  ${kubectl} get applications -A`,
    `  ${kubectl} get deployments,services -n demo-guestbook`,
    `  git clone ${cloneUrl} demo-config   # edit guestbook/frontend.yaml, commit, git push`,
    `  ${kubectl} -n demo-guestbook scale deployment frontend --replicas=5   # drift: put back (selfHeal)`,
    `  ${kubectl} -n capstan-demo annotate application guestbook capstan.dev/refresh="$(date +%s)" --overwrite`,
    `  npm run capstan -- login ${summary.serverUrl} --password-stdin   # then: npm run capstan -- app list -A`,
    `  npm run capstan -- env list -A   # dev, then staging (approval required): npm run capstan -- promote dev -n capstan-demo --image registry.invalid/hello@sha256:<64 hex>`,
    ...(summary.helloUrl === undefined
      ? []
      : [
          `  curl ${summary.helloUrl}   # the road, push to production:`,
          `  git clone ${(summary.helloCodeUrl ?? '').replace('://', `://${summary.gitUsername}@`)} hello-http && cd hello-http && echo 2 > VERSION && git commit -qam 'version 2' && git push`,
          `  npm run capstan -- pipeline runs hello-http -n capstan-demo; npm run capstan -- promotion list -n capstan-demo --environment hello-http; curl ${summary.helloUrl}`,
        ]),
    `  ${downCommand}`,
    '',
  ].join('\n');
}

/**
 * Where the agent runs: a process on the machine (its URLs), or install.yaml's pods on the real node
 * (its Services' URLs, which either replica answers, and how to reach one pod: dev-cluster expose).
 */
function agentLines(summary: DemoSummary, cluster: string): string[] {
  const pods = summary.agentPods;
  if (pods === undefined)
    return [
      `  agent        ${summary.agentUrl}/healthz   metrics ${summary.metricsUrl}`,
      `  webhook      POST ${summary.webhookUrl}  (Authorization: Bearer ${summary.webhookToken})`,
    ];
  return [
    `  agent        pods ${pods.pods.join(', ')} in ${pods.namespace} on the real node (${pods.leader} leads)`,
    `               image ${pods.image}`,
    `               ${summary.agentUrl}/healthz   metrics ${summary.metricsUrl}   (its Services, forwarded: either replica answers)`,
    `               one pod: npm run capstan -- dev-cluster expose pod/${pods.leader} metrics -n ${pods.namespace} --name ${cluster}`,
    `  webhook      POST ${summary.webhookUrl}  (Authorization: Bearer ${summary.webhookToken})`,
  ];
}
