/**
 * Addresses, normalized so that two spellings of one server compare equal: cluster URLs (the
 * source == target guard) and ZooKeeper connect strings (validated before any client sees them —
 * node-zookeeper-client quietly turns "::::" into localhost:2181).
 */
import { isIP } from 'node:net';

/** Host names that always mean this machine. */
const LOOPBACK_NAMES = new Set(['localhost', 'localhost.localdomain', 'ip6-localhost', 'ip6-loopback', '0.0.0.0', '::', '::1']);

/** True for every spelling of this machine's loopback: localhost, 127.0.0.0/8, ::1, ::ffff:127.x, 0.0.0.0. */
export function isLoopback(host: string): boolean {
  let h = host.toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, '');
  if (LOOPBACK_NAMES.has(h) || h.endsWith('.localhost')) return true;
  const mapped = /^::ffff:(.+)$/.exec(h);
  if (mapped) h = mapped[1];
  if (/^0*:(0*:){0,6}0*1$/.test(h) && isIP(h) === 6) return true; // ::1 written out in full
  if (isIP(h) === 4 && h.startsWith('127.')) return true;
  // IPv4-mapped addresses written in hex by the URL parser (::ffff:7f00:1).
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host.toLowerCase().replace(/^\[|\]$/g, ''));
  return !!hex && parseInt(hex[1], 16) >> 8 === 127;
}

/** The host as compared: lower-cased, without brackets or a trailing dot, every loopback spelling as one. */
export function normalizeHost(host: string): string {
  return isLoopback(host) ? 'loopback' : host.toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, '');
}

export interface NormalizedUrl {
  scheme: string;
  host: string;
  port: number;
  /** Without a trailing slash, dot segments resolved, "" for the root. */
  path: string;
}

/** A URL as compared: scheme, normalized host, explicit port (scheme default), path without trailing slashes; no credentials, query or fragment. */
export function normalizeUrl(url: string): NormalizedUrl | null {
  let u: URL;
  try {
    u = new URL(url.trim());
  } catch {
    return null;
  }
  const scheme = u.protocol.replace(/:$/, '').toLowerCase();
  const port = u.port ? Number(u.port) : scheme === 'https' ? 443 : 80;
  const path = decodeURIComponent(u.pathname).replace(/\/{2,}/g, '/').replace(/\/+$/, '');
  return { scheme, host: normalizeHost(u.hostname), port, path };
}

export const urlKey = (n: NormalizedUrl) => `${n.scheme}://${n.host}:${n.port}${n.path}`;

/** Every URL of an endpoint (a string or a list), normalized; an order or a duplicate makes no difference. */
export function urlKeys(url: string | string[]): Set<string> {
  const out = new Set<string>();
  for (const u of Array.isArray(url) ? url : [url]) {
    const n = normalizeUrl(u);
    out.add(n ? urlKey(n) : u.trim());
  }
  return out;
}

/** True when the two URL lists share a node: one node belongs to one cluster. */
export function sameNodes(a: string | string[], b: string | string[]): boolean {
  const keys = urlKeys(a);
  return [...urlKeys(b)].some((k) => keys.has(k));
}

export interface ZkServer {
  host: string;
  port: number;
}

export interface ZkConnect {
  servers: ZkServer[];
  /** The chroot ("/solr"), or null. */
  chroot: string | null;
}

const HOSTNAME = /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/i;
const ZK_DEFAULT_PORT = 2181;

/**
 * Parses a ZooKeeper connect string: "host:port[,host:port...][/chroot]", IPv6 addresses in brackets
 * ("[::1]:2181"), the port optional (2181). Returns what is wrong with it as a string, else the parts.
 */
export function parseZkConnect(value: string): ZkConnect | string {
  const text = value.trim();
  if (!text) return 'empty';
  if (/\s/.test(text)) return 'contains white space';
  const slash = text.indexOf('/');
  const hosts = slash === -1 ? text : text.slice(0, slash);
  let chroot: string | null = slash === -1 ? null : text.slice(slash);
  if (chroot !== null) {
    if (chroot === '/') chroot = null;
    else if (chroot.endsWith('/')) return `the chroot "${chroot}" ends with "/"`;
    else if (chroot.split('/').slice(1).some((s) => s === '' || s === '.' || s === '..')) return `the chroot "${chroot}" has an empty, "." or ".." segment`;
    else if (/[\u0000-\u001f\u007f]/.test(chroot) || chroot === '/zookeeper' || chroot.startsWith('/zookeeper/')) return `the chroot "${chroot}" is not a legal ZooKeeper path`;
  }
  if (!hosts) return 'names no server (expected host:port, e.g. zk-1:2181,zk-2:2181/chroot)';
  const servers: ZkServer[] = [];
  for (const item of hosts.split(',')) {
    if (!item) return `has an empty server entry in "${hosts}"`;
    let host: string;
    let port: string | undefined;
    const v6 = /^\[([^\]]*)\](?::(.*))?$/.exec(item);
    if (v6) {
      host = v6[1];
      port = v6[2];
      if (isIP(host) !== 6) return `"${item}": "${host}" in brackets is not an IPv6 address`;
    } else {
      const parts = item.split(':');
      if (parts.length > 2) return `"${item}" is not host:port (an IPv6 address goes in brackets: [::1]:2181)`;
      [host, port] = parts;
      if (!host) return `"${item}" has no host`;
      if (!(isIP(host) === 4 || (HOSTNAME.test(host) && !/^[\d.]+$/.test(host)))) return `"${item}": "${host}" is not a host name or IP address`;
    }
    if (port !== undefined && !/^\d{1,5}$/.test(port)) return `"${item}": the port "${port}" is not a number`;
    const p = port === undefined ? ZK_DEFAULT_PORT : Number(port);
    if (p < 1 || p > 65535) return `"${item}": the port ${p} is not in 1..65535`;
    servers.push({ host, port: p });
  }
  return { servers, chroot };
}

/** The same ensemble and chroot, whatever the order, spelling of loopback or default port: for comparing Solr's zkHost. */
export function zkConnectKey(value: string): string | null {
  const parsed = parseZkConnect(value);
  if (typeof parsed === 'string') return null;
  const servers = [...new Set(parsed.servers.map((s) => `${normalizeHost(s.host)}:${s.port}`))].sort();
  return `${servers.join(',')}${parsed.chroot ?? ''}`;
}
