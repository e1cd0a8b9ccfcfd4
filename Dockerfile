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
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
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
