/**
 * The Kubernetes manifests in deploy/kubernetes, checked as far as this machine allows (no
 * cluster): every document parses (js-yaml, pinned) and has the fields Kubernetes requires; the
 * origin is a StatefulSet with a persistent volume at the storage directory, the relays a
 * Deployment behind a Service that selects them; every server container has gRPC startup,
 * readiness and liveness probes on the port the server really listens on, Prometheus scrape
 * annotations that name the port the metrics really use, and resource requests. Then the pods are
 * "played" locally with real processes: each container's command line (the Dockerfile's
 * entrypoint plus the manifest's args, `$(VAR)`s from the ConfigMap, cluster names mapped to the
 * local processes, and only the listening addresses overridden to 127.0.0.1 and free ports) must
 * start the real binaries, the relay must reach the origin's target, and the client must sync
 * through the relay trusting only the origin's key.
 */
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { spawn } from "node:child_process";
import { safeLoadAll } from "js-yaml";
import { CLIENT_BIN, ROOT, SERVER_BIN, SYNCED, cleanup, run, tempDir } from "../production/helpers";
import { LISTENING, Proc } from "../helpers/process";
import { ORIGIN_LOGS, committedRoots, healthStatus } from "../helpers/scale-out";

jest.setTimeout(60_000);
afterAll(cleanup);

// ---- the manifests, loosely typed -----------------------------------------------------------

interface Probe {
  grpc?: { port?: number; service?: string };
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: Array<{ name: string; valueFrom?: { configMapKeyRef?: { name: string; key: string } } }>;
  ports?: Array<{ name?: string; containerPort: number }>;
  volumeMounts?: Array<{ name: string; mountPath: string }>;
  resources?: { requests?: { cpu?: string; memory?: string } };
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
}
interface PodTemplate {
  metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
  spec: { containers: Container[]; volumes?: Array<{ name: string }> };
}
interface Doc {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec?: {
    replicas?: number;
    serviceName?: string;
    selector?: { matchLabels?: Record<string, string> } & Record<string, string>;
    template?: PodTemplate;
    volumeClaimTemplates?: Array<{ metadata: { name: string }; spec: { accessModes: string[]; resources: { requests: { storage: string } } } }>;
    ports?: Array<{ name: string; port: number; targetPort: string | number }>;
  };
  data?: Record<string, string>;
}

const DIR = path.join(ROOT, "deploy/kubernetes");
const docs: Doc[] = readdirSync(DIR)
  .filter((f) => f.endsWith(".yaml"))
  .flatMap((f) => safeLoadAll(readFileSync(path.join(DIR, f), "utf8")) as Doc[]);

function find(kind: string, name: string): Doc {
  const d = docs.find((x) => x.kind === kind && x.metadata.name === name);
  if (d === undefined) throw new Error(`deploy/kubernetes has no ${kind} ${name}`);
  return d;
}

const container = (d: Doc): Container => d.spec!.template!.spec.containers[0]!;
const portNamed = (c: Container, name: string): number => c.ports!.find((p) => p.name === name)!.containerPort;

/** The image's entrypoint (Dockerfile ENTRYPOINT, exec form): [node, script, ...flags]. */
const ENTRYPOINT: string[] = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(readFileSync(path.join(ROOT, "Dockerfile"), "utf8"))![1]!) as string[];

/** A default from `--help` ("(default: X)" on the flag's line). */
async function helpDefault(bin: string, flag: string): Promise<string> {
  const help = await run(bin, ["--help"]);
  const line = help.stdout.split("\n").find((l) => l.includes(`--${flag} `));
  const m = line === undefined ? null : /\(default: ([^)]+)\)/.exec(line);
  if (m === null) throw new Error(`no default for --${flag} in ${bin} --help`);
  return m[1]!;
}

// ---- structure ----------------------------------------------------------------------------------

test("every document parses and has apiVersion, kind and metadata.name; the expected objects exist", () => {
  expect(docs.length).toBeGreaterThanOrEqual(6);
  for (const d of docs) {
    expect(typeof d.apiVersion).toBe("string");
    expect(typeof d.kind).toBe("string");
    expect(d.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  }
  for (const [kind, name] of [
    ["StatefulSet", "sync-origin"],
    ["Service", "sync-origin"],
    ["Deployment", "sync-relay"],
    ["Service", "sync-relay"],
    ["ConfigMap", "sync-trust"],
  ]) {
    expect(() => find(kind!, name!)).not.toThrow();
  }
});

test("the origin is a StatefulSet with a persistent volume at the storage directory; relays a Deployment behind a Service", () => {
  const origin = find("StatefulSet", "sync-origin");
  expect(origin.apiVersion).toBe("apps/v1");
  expect(origin.spec!.replicas).toBe(1); // one process owns a storage directory
  expect(origin.spec!.serviceName).toBe("sync-origin");
  const claim = origin.spec!.volumeClaimTemplates![0]!;
  expect(claim.spec.accessModes).toEqual(["ReadWriteOnce"]);
  expect(claim.spec.resources.requests.storage).toMatch(/^\d+[GM]i$/);
  const storageDir = ENTRYPOINT[ENTRYPOINT.indexOf("--storage-dir") + 1];
  expect(container(origin).volumeMounts).toContainEqual({ name: claim.metadata.name, mountPath: storageDir });

  const relays = find("Deployment", "sync-relay");
  expect(relays.apiVersion).toBe("apps/v1");
  expect(relays.spec!.replicas).toBeGreaterThanOrEqual(2);
  for (const name of ["sync-origin", "sync-relay"]) {
    const service = find("Service", name);
    const workload = name === "sync-origin" ? origin : relays;
    const labels = workload.spec!.template!.metadata.labels;
    expect(workload.spec!.selector!.matchLabels).toEqual(labels);
    for (const [k, v] of Object.entries(service.spec!.selector as Record<string, string>)) expect(labels[k]).toBe(v);
    const grpc = service.spec!.ports!.find((p) => p.name === "grpc")!;
    expect(grpc.targetPort).toBe("grpc");
    expect(container(workload).ports!.map((p) => p.name)).toContain("grpc");
  }
  // Relays reach the origin through its Service's gRPC port.
  const args = container(relays).args!;
  const originGrpc = find("Service", "sync-origin").spec!.ports!.find((p) => p.name === "grpc")!.port;
  expect(args[args.indexOf("--upstream") + 1]).toBe(`sync-origin:${originGrpc}`);
});

test("server containers: gRPC probes on the port the server listens on, scrape annotations on its metrics port, resource requests", async () => {
  const [grpcDefault, metricsDefault] = await Promise.all([helpDefault(SERVER_BIN, "port"), helpDefault(SERVER_BIN, "metrics-port")]);
  for (const d of [find("StatefulSet", "sync-origin"), find("Deployment", "sync-relay")]) {
    const c = container(d);
    const argv = [...ENTRYPOINT.slice(2), ...c.args!];
    expect(argv).not.toContain("-p");
    expect(argv).not.toContain("--port");
    expect(portNamed(c, "grpc")).toBe(Number(grpcDefault));
    expect(portNamed(c, "metrics")).toBe(Number(metricsDefault));
    for (const probe of [c.startupProbe, c.readinessProbe, c.livenessProbe]) {
      expect(probe?.grpc?.port).toBe(Number(grpcDefault));
      expect(probe?.grpc?.service ?? "").toBe(""); // the standard health service's overall status
    }
    const annotations = d.spec!.template!.metadata.annotations!;
    expect(annotations["prometheus.io/scrape"]).toBe("true");
    expect(annotations["prometheus.io/port"]).toBe(metricsDefault);
    expect(annotations["prometheus.io/path"]).toBe("/metrics");
    expect(c.resources?.requests?.cpu).toMatch(/^\d+m?$/);
    expect(c.resources?.requests?.memory).toMatch(/^\d+[GM]i$/);
    expect(c.image).toMatch(/^sync-server:/);
  }
  const client = container(find("Deployment", "sync-client"));
  const m = client.args![client.args!.indexOf("-m") + 1];
  expect(find("Deployment", "sync-client").spec!.template!.metadata.annotations!["prometheus.io/port"]).toBe(m);
  expect(portNamed(client, "metrics")).toBe(Number(m));
});

// ---- the pods, played with real processes ------------------------------------------------------

/** A container's argv with `$(VAR)` expanded from `env` (ConfigMap values given in `config`). */
function expand(c: Container, config: Record<string, string>): string[] {
  const env = new Map((c.env ?? []).map((e) => [e.name, config[e.valueFrom!.configMapKeyRef!.key]!]));
  return (c.args ?? []).map((a) => a.replace(/\$\(([A-Z_]+)\)/g, (_, v: string) => env.get(v) ?? `$(${v})`));
}

/** Runs a container's command line locally: paths and cluster names mapped, listening on 127.0.0.1 and free ports. */
function play(name: string, c: Container, argv: string[], map: Record<string, string>, overrides: string[]): Proc {
  const mapped = argv.map((a) => map[a] ?? a);
  const [, script, ...rest] = c.command ?? ENTRYPOINT;
  const bin = script === "bin/sync-client.js" ? CLIENT_BIN : SERVER_BIN;
  const flags = c.command === undefined ? [...rest.map((a) => map[a] ?? a), ...mapped] : mapped;
  return new Proc(name, spawn(process.execPath, [bin, ...flags, ...overrides], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] }));
}

test("the pods' command lines run the real binaries: a client syncs through a relay of the origin, trusting only the origin's key", async () => {
  const keyDir = tempDir("cw-k8s-key-");
  const key = await run(SERVER_BIN, ["--generate-signing-key", path.join(keyDir, "signing.key")]);
  expect(key.code).toBe(0);
  const config = { ...find("ConfigMap", "sync-trust").data!, ORIGIN_PUBLIC_KEY: key.stdout.trim() };
  const listen = ["--host", "127.0.0.1", "-p", "0", "-m", "0"];

  const originC = container(find("StatefulSet", "sync-origin"));
  const origin = play(
    "origin",
    originC,
    expand(originC, config),
    { "/data": tempDir("cw-k8s-origin-"), "/etc/sync-origin/signing.key": path.join(keyDir, "signing.key") },
    [...listen, ...ORIGIN_LOGS],
  );
  await origin.waitForMsg(LISTENING);

  const relayC = container(find("Deployment", "sync-relay"));
  const relay = play("relay", relayC, expand(relayC, config), { "/data": tempDir("cw-k8s-relay-"), "sync-origin:8080": origin.addr }, listen);
  await relay.waitForMsg(LISTENING);
  await relay.waitForMsg("relay reached target");
  expect(await healthStatus(relay.addr)).toBe(1); // what the readiness probe asks

  const clientC = container(find("Deployment", "sync-client"));
  const client = play("client", clientC, expand(clientC, config), { "/data": tempDir("cw-k8s-client-"), "sync-relay:8080": relay.addr }, [
    "--metrics-host",
    "127.0.0.1",
    "-m",
    "0",
  ]);
  const synced = await client.waitForLog((l) => l.msg === SYNCED, "a completed sync", 30_000);
  expect(committedRoots(origin).get(synced.op_count as string)).toBe(synced.root);
});
