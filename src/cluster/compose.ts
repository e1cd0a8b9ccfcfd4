/**
 * docker-compose.yml is the one description of the production shape; `npm run cluster` reads it
 * and runs the same services as loopback processes. From each service it takes the environment
 * (with compose's `${VAR:-default}` resolved against our own environment, as compose does), its
 * command, and its bind mounts (to turn container paths into the repository's own files). The
 * cluster then replaces only where things are (addresses, ports, data dirs): see cluster-env.ts.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, join, posix, relative } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';

const ServiceSchema = z.object({
  image: z.string().optional(),
  command: z.array(z.string()).optional(),
  entrypoint: z.array(z.string()).optional(),
  environment: z.record(z.union([z.string(), z.number(), z.boolean()])).optional(),
  volumes: z.array(z.string()).optional(),
});
const ComposeSchema = z.object({ services: z.record(ServiceSchema) });

export class ComposeFileError extends Error {
  override readonly name = 'ComposeFileError';
}

export interface ComposeService {
  name: string;
  image: string | undefined;
  command: string[];
  environment: Record<string, string>;
  /** Bind mounts of repository paths: container path → absolute host path. */
  mounts: Array<{ container: string; host: string }>;
}

export interface ComposeProject {
  root: string;
  service(name: string): ComposeService;
  /** The host path of a container path under one of the service's bind mounts. */
  hostPath(service: ComposeService, containerPath: string, cwd?: string): string;
}

/** Compose's `${VAR}`, `${VAR:-default}` and `${VAR-default}`, against `env`. */
export function interpolate(value: string, env: NodeJS.ProcessEnv): string {
  return value.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)-([^}]*))?\}/g,
    (_m, name: string, colon: string | undefined, fallback: string | undefined) => {
      const set = env[name];
      if (fallback === undefined) return set ?? '';
      // `:-` also replaces an empty value; `-` only an unset one.
      if (colon) return set ? set : fallback;
      return set ?? fallback;
    },
  );
}

export function loadCompose(root: string, env: NodeJS.ProcessEnv = process.env): ComposeProject {
  const file = join(root, 'docker-compose.yml');
  let raw: unknown;
  try {
    // merge: compose honours YAML `<<:` merge keys.
    raw = parse(readFileSync(file, 'utf8'), { merge: true });
  } catch (err) {
    throw new ComposeFileError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  const parsed = ComposeSchema.safeParse(raw);
  if (!parsed.success) throw new ComposeFileError(`${file}: ${parsed.error.issues[0]?.message}`);
  const services = parsed.data.services;

  return {
    root,
    service(name) {
      const svc = services[name];
      if (!svc) throw new ComposeFileError(`${file} has no service ${name}`);
      const environment: Record<string, string> = {};
      for (const [key, value] of Object.entries(svc.environment ?? {}))
        environment[key] = interpolate(String(value), env);
      const mounts = (svc.volumes ?? [])
        .map((v) => v.split(':'))
        .filter(([host]) => host?.startsWith('./'))
        .map(([host, container]) => ({ host: join(root, host!), container: container! }));
      return { name, image: svc.image, command: svc.command ?? [], environment, mounts };
    },
    hostPath(service, containerPath, cwd = '/') {
      const absolute = isAbsolute(containerPath) ? containerPath : posix.join(cwd, containerPath);
      for (const { host, container } of service.mounts) {
        const rest = relative(container, absolute);
        if (rest === '' || (!rest.startsWith('..') && !isAbsolute(rest))) return join(host, rest);
      }
      throw new ComposeFileError(
        `service ${service.name}: ${containerPath} is not under any of its bind mounts of repository files`,
      );
    },
  };
}
