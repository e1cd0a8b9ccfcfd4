# syntax=docker/dockerfile:1
# ovirt-tasks image: `ovirt-tasks worker`, `ovirt-tasks vdsm-sim`, and the client commands.

FROM node:20-bookworm AS build
WORKDIR /app
# Dependencies first: this layer is reused until the lock file changes. (The full image has the
# compiler and Python that better-sqlite3 needs when no prebuilt binary fits.)
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# Also webpacks the workflows into lib/workflow-bundle.js: workers load it instead of bundling.
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
# MALLOC_ARENA_MAX=2: glibc otherwise keeps up to 8 malloc arenas per core for the worker's many
# threads (~120 MiB of RSS with 1,000 tasks in flight, docs/benchmarks.md). Override with -e.
ENV NODE_ENV=production \
    MALLOC_ARENA_MAX=2
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/lib ./lib
COPY --chmod=755 bin ./bin
RUN ln -s /app/bin/ovirt-tasks /usr/local/bin/ovirt-tasks
# State of `ovirt-tasks vdsm-sim --data /data/...`; a new named volume takes this owner.
RUN mkdir /data && chown node:node /data
USER node
ENTRYPOINT ["ovirt-tasks"]
CMD ["--help"]
