# syntax=docker/dockerfile:1
#
# The Capstan image: `capstan agent` by default, any `capstan` command otherwise.
#   docker build -t capstan .
#   docker run --rm capstan --help
#
# Node.js 24 runs the TypeScript sources directly (type stripping): there is no compile stage, the
# image holds src/ as it is in the repository. Stages:
#   tools    kustomize, helm and jsonnet, built from the Go module proxy at the versions of scripts/build-binaries.sh,
#            and capstan-confine (the Landlock render sandbox) from scripts/confine
#   deps     the production node_modules, exactly as package-lock.json pins them
#   ui       the web UI built by Vite (ui/dist, served by `capstan server`)
#   runtime  node, git and ssh (the agent runs git), the tools, the dependencies and the sources
# Override the base images (e.g. to pin digests) with --build-arg NODE_IMAGE=... / GO_IMAGE=...
#
# Without network (the dev cluster's BuildKit, docs/real-node.md): RUNTIME_BASE names an image that
# already holds node, git, openssh-client and ca-certificates (the cluster's Debian-based
# capstan/node:24), so the runtime-os stage is not built; the `tools` and `deps` stages are given as
# named build contexts (--build-context tools=DIR with out/kustomize, out/helm, out/jsonnet and out/capstan-confine, deps=DIR with
# app/node_modules), so their RUN steps are not run either.

ARG NODE_IMAGE=node:24-trixie-slim
ARG GO_IMAGE=golang:1.26
ARG RUNTIME_BASE=runtime-os

# ---- tools ------------------------------------------------------------------------------------
FROM ${GO_IMAGE} AS tools
ARG KUSTOMIZE_VERSION=v5.8.1
ARG HELM_VERSION=v3.21.4
ARG JSONNET_VERSION=v0.22.0
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOBIN=/out
RUN go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kustomize/kustomize/v5@${KUSTOMIZE_VERSION}" \
 && go install -trimpath -ldflags "-s -w" "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}" \
 && go install -trimpath -ldflags "-s -w" "github.com/google/go-jsonnet/cmd/jsonnet@${JSONNET_VERSION}"
# The Landlock launcher: the standard library only, so nothing is downloaded.
COPY scripts/confine /src/confine
RUN cd /src/confine && go build -trimpath -ldflags "-s -w" -o /out/capstan-confine .

# ---- deps -------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts: none of the production dependencies needs one.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# ---- ui ---------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS ui
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY ui ./ui/
COPY src/contracts ./src/contracts/
COPY src/core ./src/core/
RUN npx --no-install vite build ui --logLevel warn

# ---- runtime-os -------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime-os
# git for the sources, openssh-client for ssh:// repositories, ca-certificates for https, bubblewrap
# for the render sandbox where user namespaces are allowed (a Localhost seccomp profile); under the
# default RuntimeDefault profile the agent uses capstan-confine (Landlock) instead.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client ca-certificates bubblewrap \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 capstan \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin capstan

# ---- runtime ----------------------------------------------------------------------------------
# The user is numeric (10001) so that Kubernetes can verify runAsNonRoot; src/contracts/install.ts
# runs the pod with the same id (AGENT_UID).
FROM ${RUNTIME_BASE} AS runtime
WORKDIR /app
ENV NODE_ENV=production \
    CAPSTAN_KUSTOMIZE=/usr/local/bin/kustomize \
    CAPSTAN_HELM=/usr/local/bin/helm \
    CAPSTAN_JSONNET=/usr/local/bin/jsonnet \
    CAPSTAN_CONFINE=/usr/local/bin/capstan-confine \
    CAPSTAN_CACHE_DIR=/var/cache/capstan
COPY --from=tools /out/kustomize /out/helm /out/jsonnet /out/capstan-confine /usr/local/bin/
# Everything below stays owned by root and read-only to the agent: it writes only to its cache and /tmp.
COPY --from=deps /app/node_modules ./node_modules/
COPY package.json ./
COPY bin ./bin/
COPY src ./src/
COPY --from=ui /app/ui/dist ./ui/dist/
RUN mkdir -p /var/cache/capstan && chown 10001:10001 /var/cache/capstan
USER 10001:10001
# 8080: /healthz and /readyz; 8081: /metrics.
EXPOSE 8080 8081
ENTRYPOINT ["node", "bin/capstan.js"]
CMD ["agent"]
