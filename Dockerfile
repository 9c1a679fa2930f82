# syntax=docker/dockerfile:1
# The bluegreen image: one image for every role (plan, work, verify-integrity, cutover, status).
#   docker build -t bluegreen .
#   docker run --rm bluegreen --help
# test/integration/packaging.test.ts runs these stages' COPY and npm steps in a scratch directory (there
# is no Docker engine on the development machines) and runs the entry point it produces.

# --- build: compile TypeScript with the dev dependencies -------------------------------------------
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` compiles, which needs the sources copied below.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build

# --- deps: production dependencies only ------------------------------------------------------------
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# --- runtime ---------------------------------------------------------------------------------------
FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production \
    BLUEGREEN_LOG_FORMAT=json \
    BLUEGREEN_HTTP_PORT=9464 \
    NODE_OPTIONS="--max-old-space-size=256 --max-semi-space-size=16" \
    PATH=/app/bin:$PATH
WORKDIR /app
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY bin ./bin
# uid/gid 1000 is the image's unprivileged `node` user; numeric, so Kubernetes' runAsNonRoot can check it.
USER 1000:1000
EXPOSE 9464
ENTRYPOINT ["/app/bin/bluegreen"]
CMD ["--help"]
