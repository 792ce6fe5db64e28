// Key rotation end to end (docs/vault.md "Rotation", DESIGN §7) with the real
// scheduled handler. Several Portico workers run the same build over the same D1 and
// KV, each with its own PORTICO_VAULT_KEYS, standing in for one deployment whose
// secret is changed between deploys:
//   R1  {k1}            active k1   (before rotation)
//   R2  {k1, k2}        active k2   (rotation under way; batch of 2 per run)
//   R3  {k2}            active k2   (k1 removed)
//   R9  {k2, k9}        active k9   (a record under a key R3 does not have)
// Records are written under k1, the ring gains k2, the cron job and
// POST /vault/_reencrypt move every record to k2 in batches while
// GET /vault/status counts down, then k1 is dropped and every connection still
// works; a record under a key missing from the ring fails closed alone.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { useHarness, uniq } from "./harness.mjs";
import { startRecordingOrigin } from "./support/recording-origin.mjs";
import { SecretScan, logControl } from "./support/secret-scan.mjs";
import {
  vaultBindings, vaultKit, cpToken, tenantToken, connectorBody, apiKeyAuth, show, freshSecret, liveSecret,
  expectCode, ring, ringKey,
} from "./support/vault.mjs";

const R1 = "portico-r1";
const R2 = "portico-r2";
const R3 = "portico-r3";
const R9 = "portico-r9";
const KEEP = "portico-audit-keep"; // PORTICO_AUDIT_RETENTION_DAYS=0
const WEEK = "portico-audit-7"; // PORTICO_AUDIT_RETENTION_DAYS=7
const CRON = "*/10 * * * *";
const BATCH = 2;

const scan = new SecretScan();
const h = useHarness({
  bindings: vaultBindings(),
  onLog: scan.onLog,
  extraWorkers: ({ porticoWorker }) => [
    porticoWorker(R1, vaultBindings({ PORTICO_VAULT_KEYS: ring("k1", ["k1"]) })),
    porticoWorker(R2, vaultBindings({ PORTICO_VAULT_KEYS: ring("k2", ["k1", "k2"]), PORTICO_VAULT_REENCRYPT_BATCH: String(BATCH) })),
    porticoWorker(R3, vaultBindings({ PORTICO_VAULT_KEYS: ring("k2", ["k2"]), PORTICO_VAULT_REENCRYPT_BATCH: String(BATCH) })),
    porticoWorker(R9, vaultBindings({ PORTICO_VAULT_KEYS: ring("k9", ["k2", "k9"]) })),
    porticoWorker(KEEP, vaultBindings({ PORTICO_VAULT_KEYS: ring("k2", ["k2"]), PORTICO_AUDIT_RETENTION_DAYS: "0" })),
    porticoWorker(WEEK, vaultBindings({ PORTICO_VAULT_KEYS: ring("k2", ["k2"]), PORTICO_AUDIT_RETENTION_DAYS: "7" })),
  ],
});

// node 22 runs a file-level before() as soon as it is registered, without waiting
// for the harness's: everything that needs the harness lives in this suite.
describe("vault rotation", () => {
  let up;
  let call;
  let kv;
  const kit = {};
  before(async () => {
    up = await startRecordingOrigin();
    call = scan.client(h);
    kv = await h.mf.getKVNamespace("VAULT", "portico");
    for (const w of [R1, R2, R3, R9]) kit[w] = vaultKit(call.worker(w));
    // The key material itself must never show up anywhere either.
    for (const k of ["k1", "k2", "k9"]) scan.addSecret(ringKey(k), `ring key ${k}`);
  });
  after(async () => {
    await up?.close();
  });

  /** Connections made under k1: { tid, id, secret, user? }. */
  const conns = [];
  let connectorId;
  let basicConnectorId;
  let oauthConnectorId;

  const status = async (w) => {
    const r = await kit[w].api("GET", "/vault/status");
    assert.equal(r.status, 200, `${w} status: ${show(r)}`);
    return r.data;
  };
  /** The three documented fields of a _reencrypt answer. */
  const counts3 = (d) => ({ reencrypted: d?.reencrypted, failed: d?.failed, remaining: d?.remaining });
  const count = (st, kid) => st.records?.[kid] ?? 0;
  const runCron = async (w) => {
    const worker = await h.mf.getWorker(w);
    const res = await worker.scheduled({ cron: CRON, scheduledTime: new Date() });
    assert.equal(res.outcome, "ok", `${w} scheduled outcome`);
  };
  /** Runs POST /vault/_reencrypt `n` times on `w`; sums reencrypted/failed, keeps the last remaining. */
  async function reencryptRuns(w, n) {
    const sum = { reencrypted: 0, failed: 0, remaining: null };
    for (let i = 0; i < n; i++) {
      const r = await kit[w].api("POST", "/vault/_reencrypt");
      assert.equal(r.status, 200, show(r));
      sum.reencrypted += r.data.reencrypted;
      sum.failed += r.data.failed;
      sum.remaining = r.data.remaining;
    }
    return sum;
  }
  /** Proxies through worker `w`; returns { status, code, got (origin record or undefined) }. */
  async function probe(w, c) {
    const m = `m${crypto.randomBytes(6).toString("hex")}`;
    const res = await kit[w].proxy(c.tid, c.id, `rot/${m}`);
    const code = res.headers.get("x-portico-error");
    await res.text();
    return { status: res.status, code, got: up.last(m) };
  }
  async function assertWorks(w, c, what) {
    const r = await probe(w, c);
    assert.equal(r.status, 200, `${what}: ${r.status} ${r.code}`);
    if (c.user) assert.equal(r.got.headers.authorization, `Basic ${Buffer.from(`${c.user}:${c.secret}`).toString("base64")}`, what);
    else assert.equal(r.got.headers["x-api-key"], c.secret, what);
  }
  async function kidOf(c) {
    const live = await liveSecret(kv, c.tid, c.id);
    assert.ok(live?.value, `KV record of ${c.id}`);
    const env = JSON.parse(live.value);
    assert.equal(live.metadata?.kid, env.kid, "metadata kid = envelope kid");
    return { kid: env.kid, value: live.value, key: live.key };
  }

  test("under ring {k1}: records are written with k1 and work", async () => {
    const v1 = kit[R1];
    connectorId = await v1.connector(connectorBody(`${up.url}/v1`, apiKeyAuth("header", "x-api-key")));
    basicConnectorId = await v1.connector(connectorBody(`${up.url}/v1`, { type: "basic" }));
    // A global OAuth2 connector's client secret is a vault record too.
    const cs = scan.addSecret(freshSecret("cs_"), "client secret");
    const oc = await v1.api("POST", "/connectors", {
      body: connectorBody("https://api.example.com/v1", {
        type: "oauth2", authorization_url: "https://auth.example.com/a", token_url: "https://auth.example.com/t",
        scopes: ["read"], pkce: true, client_auth: "client_secret_post", client_id: "cid", client_secret: cs,
      }),
    });
    assert.equal(oc.status, 201, show(oc));
    oauthConnectorId = oc.data.id;

    const tenants = [await v1.createTenant(uniq("trot")), await v1.createTenant(uniq("trot"))];
    for (let i = 0; i < 5; i++) {
      const tid = tenants[i % 2];
      const secret = scan.addSecret(freshSecret(), `key ${i}`);
      const c = await v1.connection(tid, { connector_id: connectorId, credentials: { api_key: secret } });
      conns.push({ tid, id: c.id, secret });
    }
    const pw = scan.addSecret(freshSecret("pw_"), "basic password");
    scan.addSecret(`svc:${pw}`, "basic pair");
    const b = await v1.connection(tenants[0], { connector_id: basicConnectorId, credentials: { username: "svc", password: pw } });
    conns.push({ tid: tenants[0], id: b.id, secret: pw, user: "svc" });

    for (const c of conns) {
      assert.equal((await kidOf(c)).kid, "k1");
      await assertWorks(R1, c, `R1 ${c.id}`);
    }
    const st = await status(R1);
    assert.equal(st.active_kid, "k1");
    assert.equal(count(st, "k1"), conns.length + 1, `every record counted under k1 (connections + the client secret): ${JSON.stringify(st)}`);
  });

  test("ring {k1, k2 active k2}: status shows the k1 records; old records still work; new writes use k2", async () => {
    const st = await status(R2);
    assert.equal(st.active_kid, "k2");
    assert.equal(count(st, "k1"), conns.length + 1, JSON.stringify(st));
    assert.equal(count(st, "k2"), 0);
    for (const c of conns) await assertWorks(R2, c, `R2 reads k1 record ${c.id}`);

    const secret = scan.addSecret(freshSecret(), "k2 key");
    const c = await kit[R2].connection(conns[0].tid, { connector_id: connectorId, credentials: { api_key: secret } });
    const rec = { tid: conns[0].tid, id: c.id, secret };
    assert.equal((await kidOf(rec)).kid, "k2", "a new write uses the active key at once");
    conns.push(rec);
    // A rotation by PATCH too.
    const rotated = scan.addSecret(freshSecret(), "patched key");
    const p = await kit[R2].api("PATCH", `/tenants/${conns[1].tid}/connections/${conns[1].id}`, { token: tenantToken(conns[1].tid), body: { credentials: { api_key: rotated } } });
    assert.equal(p.status, 200, show(p));
    conns[1].secret = rotated;
    assert.equal((await kidOf(conns[1])).kid, "k2");
    const st2 = await status(R2);
    assert.equal(count(st2, "k1"), conns.length - 2 + 1, JSON.stringify(st2));
    assert.equal(count(st2, "k2"), 2, JSON.stringify(st2));
    // R1 (old deploy) cannot read k2 records: fails closed, nothing sent.
    const r = await probe(R1, rec);
    assert.equal(r.status, 502);
    assert.equal(r.code, "credentials_failed");
    assert.equal(r.got, undefined, "nothing sent");
  });

  test("the cron job re-encrypts in batches of PORTICO_VAULT_REENCRYPT_BATCH, resuming; _reencrypt runs one batch; status counts down to zero", async () => {
    const before = await status(R2);
    const k1Before = count(before, "k1");
    assert.ok(k1Before > 2 * BATCH, `enough records for several batches (${k1Before})`);
    const values = new Map();
    for (const c of conns) values.set(c.id, await kidOf(c));

    await runCron(R2);
    const after1 = await status(R2);
    assert.equal(count(after1, "k1"), k1Before - BATCH, `one run re-encrypts one batch: ${JSON.stringify(after1)}`);
    assert.equal(count(after1, "k2"), count(before, "k2") + BATCH);
    assert.ok(after1.last_run && typeof after1.last_run === "object", `last_run recorded: ${JSON.stringify(after1)}`);

    const one = await kit[R2].api("POST", "/vault/_reencrypt");
    assert.equal(one.status, 200, show(one));
    assert.deepEqual(counts3(one.data), { reencrypted: BATCH, failed: 0, remaining: k1Before - 2 * BATCH });
    assert.equal(count(await status(R2), "k1"), k1Before - 2 * BATCH);

    for (let i = 0; i < 10 && count(await status(R2), "k1") > 0; i++) await runCron(R2);
    const done = await status(R2);
    assert.equal(count(done, "k1"), 0, `every record moved off k1: ${JSON.stringify(done)}`);
    assert.equal(count(done, "k2"), conns.length + 1);
    const idle = await kit[R2].api("POST", "/vault/_reencrypt");
    assert.deepEqual(counts3(idle.data), { reencrypted: 0, failed: 0, remaining: 0 });

    for (const c of conns) {
      const { kid, value, key } = await kidOf(c);
      assert.equal(kid, "k2", `${c.id} under k2`);
      const was = values.get(c.id);
      if (was.kid === "k1") {
        assert.notEqual(value, was.value, "a new envelope");
        assert.notEqual(key, was.key, "in a new object");
        assert.equal(await kv.get(was.key), null, "the k1 object is deleted");
      }
      assert.ok(!value.includes(c.secret));
      await assertWorks(R2, c, `R2 after re-encryption ${c.id}`);
    }
    const csKeys = (await kv.list({ prefix: "v1/control_plane/connector-client-secret/" })).keys.filter((k) => k.name.includes(oauthConnectorId));
    assert.equal(csKeys.length, 1);
    assert.equal(csKeys[0].metadata?.kid, "k2", "the connector's client secret moved too");
  });

  test("k1 dropped from the ring: every connection still works", async () => {
    const st = await status(R3);
    assert.equal(st.active_kid, "k2");
    assert.equal(count(st, "k1"), 0);
    for (const c of conns) await assertWorks(R3, c, `R3 (no k1) ${c.id}`);
  });

  test("a record under a key missing from the ring fails closed (502, nothing sent); the others work; re-encryption counts it failed and leaves it intact", async () => {
    const secret = scan.addSecret(freshSecret(), "k9 key");
    const c = await kit[R9].connection(conns[0].tid, { connector_id: connectorId, credentials: { api_key: secret } });
    const rec = { tid: conns[0].tid, id: c.id, secret };
    const { kid, value } = await kidOf(rec);
    assert.equal(kid, "k9");
    await assertWorks(R9, rec, "R9 reads its own record");

    const r = await probe(R3, rec);
    assert.equal(r.status, 502, `missing key: ${r.status} ${r.code}`);
    assert.equal(r.code, "credentials_failed");
    assert.equal(r.got, undefined, "nothing sent");
    for (const other of conns) await assertWorks(R3, other, `R3 others still work ${other.id}`);

    const st = await status(R3);
    assert.equal(count(st, "k9"), 1, JSON.stringify(st));
    // The job's cursor is shared (D1): a run may first finish a pass; a few runs suffice.
    const sum = await reencryptRuns(R3, 3);
    assert.equal(sum.reencrypted, 0);
    assert.ok(sum.failed >= 1, `the record is counted failed: ${JSON.stringify(sum)}`);
    assert.equal(sum.remaining, 1);
    await runCron(R3);
    assert.equal((await kidOf(rec)).value, value, "a record that cannot be opened is left as it was");
    await assertWorks(R9, rec, "and still opens where its key is");
    const again = await probe(R3, rec);
    assert.equal(again.status, 502);
    // Deleting the connection needs no key: the record and its index row go.
    const del = await kit[R3].api("DELETE", `/tenants/${rec.tid}/connections/${rec.id}`, { token: tenantToken(rec.tid) });
    assert.equal(del.status, 204, show(del));
    assert.equal(await liveSecret(kv, rec.tid, rec.id), null);
    assert.equal(count(await status(R3), "k9"), 0);
  });

  test("a tampered k1 record is counted failed, never re-sealed, and goes away with its connection", async () => {
    const secret = scan.addSecret(freshSecret(), "tampered key");
    const c = await kit[R1].connection(conns[0].tid, { connector_id: connectorId, credentials: { api_key: secret } });
    const rec = { tid: conns[0].tid, id: c.id, secret };
    const { value, key } = await kidOf(rec);
    const env = JSON.parse(value);
    const ct = Buffer.from(env.c, "base64");
    ct[0] ^= 1;
    await kv.put(key, JSON.stringify({ ...env, c: ct.toString("base64") }), { metadata: { kid: env.kid } });
    const sum = await reencryptRuns(R2, 3);
    assert.equal(sum.reencrypted, 0, JSON.stringify(sum));
    assert.ok(sum.failed >= 1, `counted failed: ${JSON.stringify(sum)}`);
    assert.equal((await kidOf(rec)).kid, "k1", "not re-sealed under k2");
    const r = await probe(R2, rec);
    assert.equal(r.status, 502);
    assert.equal(r.code, "credentials_failed");
    assert.equal(r.got, undefined);
    const del = await kit[R2].api("DELETE", `/tenants/${rec.tid}/connections/${rec.id}`, { token: tenantToken(rec.tid) });
    assert.equal(del.status, 204, show(del));
    assert.equal(count(await status(R2), "k1"), 0, "the index lost the record with its connection");
    assert.equal(await liveSecret(kv, rec.tid, rec.id), null);
  });

  test("status and re-encrypt are control-plane only, with vault:read / vault:write", async () => {
    const tid = conns[0].tid;
    const r1 = await kit[R2].api("GET", "/vault/status", { token: tenantToken(tid, { scope: "vault:read vault:write" }) });
    assert.equal(r1.status, 403, show(r1));
    const r2 = await kit[R2].api("POST", "/vault/_reencrypt", { token: tenantToken(tid, { scope: "vault:read vault:write" }) });
    assert.equal(r2.status, 403, show(r2));
    const r3 = await kit[R2].api("GET", "/vault/status", { token: cpToken({ scope: "vault:write" }) });
    assert.equal(r3.status, 403, show(r3));
    assert.equal(r3.data?.code, "insufficient_scope");
    const r4 = await kit[R2].api("POST", "/vault/_reencrypt", { token: cpToken({ scope: "vault:read" }) });
    assert.equal(r4.status, 403, show(r4));
    assert.equal(r4.data?.code, "insufficient_scope");
  });

  test("the cron job purges audit rows older than PORTICO_AUDIT_RETENTION_DAYS (default 90; 0 keeps everything)", async () => {
    const tid = conns[0].tid;
    const tok = tenantToken(tid);
    // One proxy row to copy (the suite writes rows only through the API; backdated
    // copies are the one thing the API cannot make).
    assert.equal((await probe(R3, conns[0])).status, 200);
    const list = async (q) => {
      const r = await kit[R3].api("GET", `/tenants/${tid}/audit?limit=200${q}`, { token: tok });
      assert.equal(r.status, 200, show(r));
      return r.data.items;
    };
    let recent;
    for (let i = 0; i < 50 && !recent; i++) {
      recent = (await list("&kind=proxy"))[0];
      if (!recent) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(recent, "a proxy row");
    const cols = (await h.db.prepare("PRAGMA table_info(audit_log)").all()).results.map((c) => c.name);
    const day = 86_400_000;
    const old = { aud_old200: new Date(Date.now() - 200 * day).toISOString(), aud_old30: new Date(Date.now() - 30 * day).toISOString() };
    for (const [id, at] of Object.entries(old)) {
      const sel = cols.map((c) => (c === "id" ? "?1" : c === "at" ? "?2" : c)).join(", ");
      await h.db.prepare(`INSERT INTO audit_log (${cols.join(", ")}) SELECT ${sel} FROM audit_log WHERE id = ?3`).bind(`${id}_${tid}`, at, recent.id).run();
    }
    const span = `&since=${encodeURIComponent(new Date(Date.now() - 400 * day).toISOString())}&until=${encodeURIComponent(new Date(Date.now() - day).toISOString())}`;
    const ids = async () => (await list(span)).map((x) => x.id).sort();
    assert.deepEqual(await ids(), [`aud_old200_${tid}`, `aud_old30_${tid}`], "the backdated rows are listed");

    await runCron(KEEP);
    assert.deepEqual(await ids(), [`aud_old200_${tid}`, `aud_old30_${tid}`], "0 keeps everything");
    await runCron(R3);
    assert.deepEqual(await ids(), [`aud_old30_${tid}`], "the default (90 days) purges the 200-day-old row");
    await runCron(WEEK);
    assert.deepEqual(await ids(), [], "7 days purges the 30-day-old row");
    assert.ok((await list("&kind=proxy")).some((x) => x.id === recent.id), "recent rows stay");
  });

  test("no credential or key material anywhere: responses, logs (positive control first), D1, KV", async () => {
    await logControl(h, scan, call);
    await scan.scanD1(h.db);
    await scan.scanKv(kv);
    scan.assertClean("vault_rotation");
  });
});
