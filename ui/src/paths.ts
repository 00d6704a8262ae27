// The addresses of the UI's pages that data links to (an application's project and cluster, …).

export const projectPath = (name: string) => `/projects/${encodeURIComponent(name)}`;
export const clusterPath = (name: string) => `/clusters/${encodeURIComponent(name)}`;

/** The agent's own cluster: the destination of an Application that names none (never registered). */
export const IN_CLUSTER = 'in-cluster';
