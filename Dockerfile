# Build: better-sqlite3 compiles its native addon at `npm ci`, hence the toolchain.
FROM node:20-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json ./
COPY src ./src
COPY scripts ./scripts
COPY test ./test
RUN npm run build && npm prune --omit=dev

# Run: production dependencies (with the compiled addon) and the compiled code only.
FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    PORT=8080 \
    DATA_DIR=/data
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# /shared: SHARED_SECRETS_DIR when several instances share one PostgreSQL (docs/cluster.md);
# a volume mounted there starts owned by the node user.
RUN mkdir -p /data /shared && chown node:node /data /shared
USER node
VOLUME ["/data"]
EXPOSE 8080
CMD ["node", "dist/src/main.js"]
