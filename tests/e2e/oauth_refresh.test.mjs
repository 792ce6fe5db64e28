// OAuth2 connections, the back half (docs/oauth.md "The token keeper", "Disconnecting"),
// against a stub provider (dev/oauth-provider.mjs): warm calls that never reach the
// token keeper, refresh ahead of expiry and after an upstream 401 (one refresh, one
// replay; bodies replayed only when Portico kept them), single flight under concurrent
// callers and a slow token endpoint, the failure classes (transient: three attempts
// then a cooldown with 503 token_unavailable; permanent: needs_reauth and 409
// connection_not_ready with the tokens kept), a refresh answer without refresh_token,
// the alarm refreshing a connection nobody calls, revocation at _disconnect and DELETE,
// and a secret scan over every response, log line, D1 row and KV value.
//
// Short-lived tokens: the provider reports `expires_in: 2` for the first token set, so
// its refresh point (half its lifetime, docs: "within 60 s, or half its lifetime if
// shorter") comes after one second and the alarm fires then too. A test that counts
// refreshes counts them at the provider, whoever (the alarm or a call) asked.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { Readable } from "node:stream";
import { useHarness, TEST_VAULT_KEYS } from "./harness.mjs";
import { SecretScan, logControl } from "./support/secret-scan.mjs";
import { vaultBindings, tenantToken, show, expectCode, eventually } from "./support/vault.mjs";
import { oauthKit, sleep } from "./support/oauth.mjs";

/** PORTICO_OAUTH_TIMEOUT_MS for this file: a token endpoint slower than this times out. */
const TIMEOUT_MS = 1000;
const scan = new SecretScan();
const h = useHarness({
  bindings: vaultBindings({ PORTICO_OAUTH_TIMEOUT_MS: String(TIMEOUT_MS) }),
  onLog: scan.onLog,
});

const ISO = (s) => Date.parse(s);

describe("oauth: the token keeper", () => {
  let call;
  let k;
  before(async () => {
    call = scan.client(h);
    k = oauthKit({ h, call, scan });
  });
  after(async () => {
    await k?.closeAll();
  });

  const refreshes = (p) => k.refreshRequests(p).length;
  /** A ready connection whose first access token reports `expires_in: 2`; later ones `ttl` unless `keepShort`. */
  async function readyShort(p, { keepShort = false, ...opts } = {}) {
    p.options.reportedTtl = 2;
    try {
      return await k.ready(p, opts);
    } finally {
      if (!keepShort) p.options.reportedTtl = undefined;
    }
  }
  /** Past the refresh point of a 2-second token obtained just before. */
  const pastRefreshPoint = () => sleep(1100);
  const get = (s, path, opts) => k.proxy(s.tid, s.conn.id, path, opts);
  const entries = (p, marker) => p.resourceLog.filter((e) => e.path.includes(marker));
  const marker = () => `m${crypto.randomBytes(5).toString("hex")}`;

  describe("tokens in use", () => {
    test("warm calls never reach the keeper; …/tokens shows the token set and an alarm 5 minutes before expiry", async () => {
      const p = await k.provider({ ttl: 3600 });
      const t0ms = Date.now();
      const s = await k.ready(p, { sub: "warm-user" });
      const t0 = await k.tokens(s.tid, s.conn.id);
      assert.equal(t0.has_access_token, true);
      assert.equal(t0.has_refresh_token, true);
      assert.equal(t0.refreshes, 0);
      assert.equal(t0.needs_reauth, false);
      assert.equal(t0.refresh_failures, 0);
      assert.equal(t0.cooldown_until, null);
      const exp = ISO(t0.access_expires_at);
      assert.ok(exp >= t0ms + 3600_000 - 5_000 && exp <= Date.now() + 3600_000 + 5_000, `access_expires_at an hour ahead: ${t0.access_expires_at}`);
      assert.ok(t0.next_alarm_at, "an alarm is set");
      assert.ok(Math.abs(ISO(t0.next_alarm_at) - (exp - 300_000)) <= 2_000, `next_alarm_at ${t0.next_alarm_at} is 5 minutes before ${t0.access_expires_at}`);
      for (let i = 0; i < 5; i++) {
        const res = await get(s, `resource/warm${i}`);
        assert.equal(res.status, 200);
        assert.equal((await res.json()).sub, "warm-user");
      }
      const t1 = await k.tokens(s.tid, s.conn.id);
      assert.equal(t1.token_requests, t0.token_requests, "warm proxied calls leave token_requests unchanged");
      assert.equal(t1.refreshes, 0);
      assert.equal(refreshes(p), 0, "no refresh at the provider");
      for (const e of p.resourceLog) assert.equal(e.token, p.issued[0].access_token);
    });

    test("upstream 401 once: exactly one refresh and one replay with the new token; the caller gets 200", async () => {
      const p = await k.provider();
      const s = await k.ready(p, { sub: "u401" });
      const first = p.issued[0];
      assert.equal(p.revoke(first.access_token), true, "the provider now answers 401 for the first access token");
      const t0 = await k.tokens(s.tid, s.conn.id);
      const m = marker();
      const res = await get(s, `resource/${m}`);
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal((await res.json()).sub, "u401");
      assert.equal(refreshes(p), 1, "one refresh");
      assert.equal(k.refreshRequests(p)[0].form.refresh_token, first.refresh_token, "with the stored refresh token");
      const seen = entries(p, m);
      assert.deepEqual(seen.map((e) => [e.status, e.token]), [[401, first.access_token], [200, p.issued[1].access_token]], "the call, then one replay with the new token");
      const t1 = await k.tokens(s.tid, s.conn.id);
      assert.equal(t1.refreshes, t0.refreshes + 1);
      assert.ok(t1.last_refresh_at, "last_refresh_at");
      // The next call uses the new token at once.
      const m2 = marker();
      assert.equal((await get(s, `resource/${m2}`)).status, 200);
      assert.deepEqual(entries(p, m2).map((e) => e.token), [p.issued[1].access_token]);
      assert.equal(refreshes(p), 1);
    });

    test("a persistent 401 goes back to the caller after exactly one refresh (no loop)", async () => {
      const p = await k.provider();
      const s = await k.ready(p);
      const wa = 'Bearer error="invalid_token"';
      p.next("resource", ...Array.from({ length: 4 }, () => ({ status: 401, body: { error: "invalid_token" }, headers: { "www-authenticate": wa } })));
      const m = marker();
      const res = await get(s, `resource/${m}`);
      assert.equal(res.status, 401, "the upstream's 401");
      assert.deepEqual(await res.json(), { error: "invalid_token" }, "the upstream's body");
      assert.equal(refreshes(p), 1, "exactly one refresh");
      const seen = entries(p, m);
      assert.equal(seen.length, 2, "the call and one replay");
      assert.equal(seen[0].token, p.issued[0].access_token);
      assert.equal(seen[1].token, p.issued[1].access_token);
      p.clearNext("resource");
    });

    test("POST bodies after a 401: replayed when Portico kept them (content-length ≤ 1 MiB), not when larger or streamed", async () => {
      const p = await k.provider();
      const s = await k.ready(p);
      const current = () => p.issued.at(-1);
      const sha = (b) => crypto.createHash("sha256").update(b).digest("hex");
      const post = (m, body, headers = {}) => get(s, `resource/${m}`, { method: "POST", headers: { "content-type": "application/octet-stream", ...headers }, body });

      for (const size of [100 * 1024, 1024 * 1024]) {
        const body = crypto.randomBytes(size);
        const old = current();
        p.revoke(old.access_token);
        const m = marker();
        const res = await post(m, body, { "content-length": String(size) });
        assert.equal(res.status, 200, `${size} bytes: ${(await res.clone().text()).slice(0, 200)}`);
        const doc = await res.json();
        assert.equal(doc.bytes, size);
        assert.equal(doc.sha256, sha(body), "the replay carried the same body");
        const seen = entries(p, m);
        assert.deepEqual(seen.map((e) => [e.method, e.status, e.bytes, e.sha256]), [["POST", 401, size, sha(body)], ["POST", 200, size, sha(body)]], `${size} bytes: sent, then replayed once`);
        assert.equal(seen[0].token, old.access_token);
        assert.equal(seen[1].token, current().access_token);
      }

      // Over 1 MiB, with content-length: the 401 goes back; the upstream saw it once.
      {
        const size = 1024 * 1024 + 1;
        const body = crypto.randomBytes(size);
        p.revoke(current().access_token);
        const m = marker();
        const res = await post(m, body, { "content-length": String(size) });
        assert.equal(res.status, 401, "not replayed: the caller gets the 401");
        const seen = entries(p, m);
        assert.equal(seen.length, 1, "sent once");
        assert.equal(seen[0].bytes, size);
        assert.equal(seen[0].sha256, sha(body));
      }

      // Streamed (chunked, no content-length): the same.
      {
        const chunks = [crypto.randomBytes(8192), crypto.randomBytes(8192), crypto.randomBytes(100)];
        const all = Buffer.concat(chunks);
        p.revoke(current().access_token);
        const m = marker();
        const res = await post(m, Readable.from(chunks));
        assert.equal(res.status, 401, "a streamed body is not replayed");
        const seen = entries(p, m);
        assert.equal(seen.length, 1, "sent once");
        assert.equal(seen[0].headers["content-length"], undefined, "it went upstream streamed");
        assert.equal(seen[0].bytes, all.length);
        assert.equal(seen[0].sha256, sha(all));
      }

      // The connection goes on working.
      const res = await get(s, `resource/${marker()}`);
      assert.equal(res.status, 200);
      assert.ok(refreshes(p) <= 4, `at most one refresh per 401: ${refreshes(p)}`);
    });
  });

  describe("single flight", () => {
    test("concurrent callers at the refresh point, slow token endpoint: one refresh, every caller served the new token", async () => {
      const p = await k.provider();
      p.next("token", { grant: "refresh_token", delayMs: 700, pass: true });
      const s = await readyShort(p, { sub: "flight" });
      await pastRefreshPoint();
      const m = marker();
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => get(s, `resource/${m}/${i}`)));
      for (const r of results) assert.equal(r.status, 200, `${r.status} ${r.headers.get("x-portico-error")}`);
      assert.equal(refreshes(p), 1, "one refresh for every caller (and the alarm)");
      assert.equal(p.issued.length, 2);
      for (const e of entries(p, m)) assert.equal(e.token, p.issued[1].access_token, "the refreshed token");
      assert.equal(entries(p, m).length, 8, "each call went upstream once");
      const t = await k.tokens(s.tid, s.conn.id);
      assert.equal(t.refreshes, 1);
    });

    test("concurrent 401s for the same token: one refresh, every caller replayed with the new token", async () => {
      const p = await k.provider();
      const s = await k.ready(p);
      const old = p.issued[0];
      p.revoke(old.access_token);
      p.next("token", { grant: "refresh_token", delayMs: 600, pass: true });
      const m = marker();
      const results = await Promise.all(Array.from({ length: 6 }, (_, i) => get(s, `resource/${m}/${i}`)));
      for (const r of results) assert.equal(r.status, 200, `${r.status} ${r.headers.get("x-portico-error")}`);
      assert.equal(refreshes(p), 1, "one refresh");
      const seen = entries(p, m);
      for (const e of seen) {
        if (e.token === old.access_token) assert.equal(e.status, 401);
        else assert.deepEqual([e.token, e.status], [p.issued[1].access_token, 200]);
      }
      assert.equal(seen.filter((e) => e.status === 200).length, 6);
    });
  });

  describe("refresh answers", () => {
    test("without refresh_token: the old one is kept, and the next refresh sends it and succeeds", async () => {
      const p = await k.provider({ rotateRefreshTokens: false });
      const s = await readyShort(p, { keepShort: true });
      const rt0 = p.issued[0].refresh_token;
      try {
        await pastRefreshPoint();
        assert.equal((await get(s, "resource/r1")).status, 200);
        assert.ok(await eventually(() => refreshes(p) >= 1), "a first refresh");
        const firstAt = k.refreshRequests(p)[0].at;
        await sleep(Math.max(0, firstAt + 1100 - Date.now()));
        assert.equal((await get(s, "resource/r2")).status, 200);
        assert.ok(await eventually(() => refreshes(p) >= 2), "a second refresh");
      } finally {
        p.options.reportedTtl = undefined;
      }
      for (const e of k.refreshRequests(p)) assert.equal(e.form.refresh_token, rt0, "every refresh sent the original refresh token");
      assert.equal(p.stats.tokenFailures, 0, "and every one succeeded");
      assert.ok(p.issued.slice(1).every((i) => i.refresh_token === undefined), "the provider sent no new refresh token");
      const t = await k.tokens(s.tid, s.conn.id);
      assert.equal(t.has_refresh_token, true);
      assert.ok(t.refreshes >= 2);
      assert.equal((await k.get(s.tid, s.conn.id)).state, "ready");
    });

    test("with rotation: each refresh sends the newest refresh token (the provider's reuse detection never trips)", async () => {
      const p = await k.provider();
      const s = await readyShort(p, { keepShort: true });
      try {
        await pastRefreshPoint();
        assert.equal((await get(s, "resource/r1")).status, 200);
        assert.ok(await eventually(() => refreshes(p) >= 1));
        await sleep(Math.max(0, k.refreshRequests(p)[0].at + 1100 - Date.now()));
        assert.equal((await get(s, "resource/r2")).status, 200);
        assert.ok(await eventually(() => refreshes(p) >= 2));
      } finally {
        p.options.reportedTtl = undefined;
      }
      await sleep(50);
      k.refreshRequests(p).forEach((e, i) => assert.equal(e.form.refresh_token, p.issued[i].refresh_token, `refresh ${i + 1} sent the refresh token of answer ${i}`));
      assert.equal(p.stats.refreshReuses, 0);
      assert.equal(p.stats.tokenFailures, 0);
      assert.equal((await get(s, "resource/r3")).status, 200);
    });
  });

  describe("failures", () => {
    test("transient (503, 429, network error, timeout): three attempts, then a cooldown: calls fail fast with 503 token_unavailable and retry-after; the connection stays ready", async () => {
      const cases = {
        503: { status: 503, body: { error: "temporarily_unavailable" } },
        429: { status: 429, body: { error: "slow_down" } },
        "network error": { destroy: true },
        timeout: { delayMs: TIMEOUT_MS * 5, status: 200, body: "{}" },
      };
      await Promise.all(Object.entries(cases).map(async ([what, answer]) => {
        const p = await k.provider();
        for (let i = 0; i < 3; i++) p.next("token", { grant: "refresh_token", ...answer });
        const s = await readyShort(p);
        await pastRefreshPoint();
        const first = await get(s, "resource/one");
        await expectCode(first, 503, "token_unavailable", `${what}: the call that met the failure`);
        assert.ok(await eventually(() => refreshes(p) >= 3), `${what}: three attempts`);
        const second = await get(s, "resource/two");
        await expectCode(second, 503, "token_unavailable", `${what}: during the cooldown`);
        const ra = second.headers.get("retry-after");
        assert.match(ra ?? "", /^\d+$/, `${what}: retry-after in seconds`);
        assert.ok(Number(ra) >= 1 && Number(ra) <= 30, `${what}: retry-after ${ra}`);
        await expectCode(await get(s, "resource/three"), 503, "token_unavailable", `${what}: still cooling down`);
        assert.equal(refreshes(p), 3, `${what}: 3 attempts, none during the cooldown`);
        assert.equal(p.pending("token"), 0);
        assert.equal(p.stats.resourceRequests, 0, `${what}: nothing sent upstream`);
        const c = await k.get(s.tid, s.conn.id);
        assert.equal(c.state, "ready", `${what}: the connection stays ready`);
        const t = await k.tokens(s.tid, s.conn.id);
        assert.ok(t.cooldown_until, `${what}: cooldown_until`);
        assert.ok(ISO(t.cooldown_until) > Date.now() && ISO(t.cooldown_until) <= Date.now() + 31_000, `${what}: cooldown_until ${t.cooldown_until}`);
        assert.ok(t.refresh_failures >= 1, `${what}: refresh_failures`);
        assert.ok(t.last_error, `${what}: last_error`);
        assert.equal(t.has_refresh_token, true);
        // "a transient failure retries after the cooldown" (the alarm).
        assert.ok(t.next_alarm_at && ISO(t.next_alarm_at) >= ISO(t.cooldown_until) - 1000, `${what}: next_alarm_at ${t.next_alarm_at} after cooldown_until ${t.cooldown_until}`);
      }));
    });

    test("permanent (invalid_grant, invalid_client, malformed JSON, no access_token, another 4xx): needs_reauth, 409 connection_not_ready, one attempt, tokens kept", async () => {
      const cases = {
        "invalid_grant (grant revoked at the provider)": { after: (p) => p.revoke(p.issued[0].refresh_token) },
        "invalid_client (client secret rotated at the provider)": { after: (p) => { p.clients["portico-basic"].secret = "rotated-client-secret"; } },
        "malformed token JSON": { answer: { status: 200, body: "{not json", headers: { "content-type": "application/json" } } },
        "200 without access_token": { answer: { status: 200, body: { token_type: "Bearer", expires_in: 3600 } } },
        "400 invalid_scope": { answer: { status: 400, body: { error: "invalid_scope" } } },
      };
      await Promise.all(Object.entries(cases).map(async ([what, c]) => {
        const p = await k.provider();
        if (c.answer) p.next("token", { grant: "refresh_token", ...c.answer });
        const s = await readyShort(p);
        c.after?.(p);
        await pastRefreshPoint();
        await expectCode(await get(s, "resource/one"), 409, "connection_not_ready", `${what}: the call that met the failure`);
        await expectCode(await get(s, "resource/two"), 409, "connection_not_ready", `${what}: afterwards`);
        assert.equal(refreshes(p), 1, `${what}: one attempt, no retry`);
        assert.equal(p.stats.resourceRequests, 0, `${what}: nothing sent upstream`);
        const conn = await k.get(s.tid, s.conn.id);
        assert.equal(conn.state, "needs_reauth", `${what}: needs_reauth`);
        const t = await k.tokens(s.tid, s.conn.id);
        assert.equal(t.has_refresh_token, true, `${what}: the refresh token is kept`);
        assert.equal(t.has_access_token, true, `${what}: the access token is kept`);
        assert.equal(t.needs_reauth, true, `${what}: needs_reauth in …/tokens`);
        assert.ok(t.last_error, `${what}: last_error`);
        assert.equal(t.cooldown_until, null, `${what}: no cooldown`);
        if (what.startsWith("invalid_grant")) {
          // A user authorises again: ready, and calls work.
          await k.connect(s.tid, null, { connectionId: s.conn.id, sub: "again" });
          const res = await get(s, "resource/after");
          assert.equal(res.status, 200);
          assert.equal((await res.json()).sub, "again");
        }
      }));
    });

    test("invalid_grant after an upstream 401: needs_reauth, then 409 without another attempt", async () => {
      const p = await k.provider();
      const s = await k.ready(p);
      p.revoke(p.issued[0].refresh_token); // the grant, with its access token
      const first = await get(s, "resource/one");
      assert.notEqual(first.status, 200, "no token to replay with");
      assert.equal(refreshes(p), 1);
      assert.equal((await k.get(s.tid, s.conn.id)).state, "needs_reauth");
      await expectCode(await get(s, "resource/two"), 409, "connection_not_ready");
      assert.equal(refreshes(p), 1, "no second attempt");
      assert.equal(p.stats.resourceRequests, 1, "only the first call went upstream");
      assert.equal((await k.tokens(s.tid, s.conn.id)).has_refresh_token, true);
    });
  });

  describe("alarm", () => {
    test("lifetimes of 10 minutes or less: the alarm is at the refresh point (60 s before expiry); longer ones 5 minutes before", async () => {
      const wrong = [];
      for (const [lifetime, ahead] of [[480, 60], [300, 60], [660, 300]]) {
        const p = await k.provider({ ttl: 3600 });
        p.options.reportedTtl = lifetime;
        let t;
        try {
          const s = await k.ready(p);
          t = await k.tokens(s.tid, s.conn.id);
        } finally {
          p.options.reportedTtl = undefined;
        }
        assert.ok(t.next_alarm_at, `${lifetime} s: an alarm`);
        const before = ISO(t.access_expires_at) - ISO(t.next_alarm_at);
        if (Math.abs(before - ahead * 1000) > 1000) {
          wrong.push(`${lifetime} s lifetime: alarm ${Math.round(before / 1000)} s before expiry (next_alarm_at ${t.next_alarm_at}, access_expires_at ${t.access_expires_at}); docs: ${ahead} s`);
        }
      }
      assert.deepEqual(wrong, [], wrong.join("; "));
    });

    test("the alarm refreshes a connection nobody calls, and sets the next one 5 minutes before the new expiry", async () => {
      const p = await k.provider({ ttl: 3600 });
      const s = await readyShort(p);
      const t0 = await k.tokens(s.tid, s.conn.id);
      assert.ok(t0.next_alarm_at, "an alarm after the token set was stored");
      assert.ok(ISO(t0.next_alarm_at) <= ISO(t0.access_expires_at), "before expiry");
      const refreshed = await eventually(async () => (await k.tokens(s.tid, s.conn.id)).refreshes >= 1, { timeoutMs: 10_000, stepMs: 250 });
      assert.ok(refreshed, "refreshed by the alarm");
      assert.equal(refreshes(p), 1, "one refresh at the provider");
      assert.equal(p.stats.resourceRequests, 0, "with zero proxied calls");
      const t1 = await k.tokens(s.tid, s.conn.id);
      assert.ok(t1.last_refresh_at);
      const exp = ISO(t1.access_expires_at);
      assert.ok(exp > Date.now() + 3000_000, `the new token lives an hour: ${t1.access_expires_at}`);
      assert.ok(Math.abs(ISO(t1.next_alarm_at) - (exp - 300_000)) <= 2_000, `next_alarm_at ${t1.next_alarm_at}`);
      const m = marker();
      assert.equal((await get(s, `resource/${m}`)).status, 200);
      assert.equal(entries(p, m)[0].token, p.issued[1].access_token, "calls use the token the alarm fetched");
    });
  });

  describe("disconnecting", () => {
    const kvKeysOf = async (tid, cid) => {
      const kv = await h.mf.getKVNamespace("VAULT", "portico");
      return (await kv.list({ prefix: `v1/${tid}/` })).keys.map((x) => x.name).filter((n) => n.includes(cid));
    };
    const disconnect = (s) => k.v.api("POST", `/tenants/${s.tid}/connections/${s.conn.id}/_disconnect`, { token: s.token });
    async function assertGone(s, what) {
      const t = await k.tokensRaw(s.tid, s.conn.id);
      if (t.status === 200) {
        assert.equal(t.data.has_access_token, false, `${what}: no access token`);
        assert.equal(t.data.has_refresh_token, false, `${what}: no refresh token`);
      }
      assert.ok(await eventually(async () => (await kvKeysOf(s.tid, s.conn.id)).length === 0), `${what}: the replica is gone from KV`);
      const rows = await h.db.prepare("SELECT COUNT(*) AS n FROM vault_records WHERE record_id = ?1").bind(s.conn.id).first();
      assert.equal(rows.n, 0, `${what}: no vault record indexed`);
      const before = s.p.stats.resourceRequests;
      await expectCode(await get(s, "resource/after"), 409, "connection_not_ready", `${what}: proxy`);
      assert.equal(s.p.stats.resourceRequests, before, `${what}: nothing sent`);
    }

    test("_disconnect revokes the refresh token at revocation_url, forgets the tokens, leaves the connection disconnected; _initiate reconnects it", async () => {
      const p = await k.provider();
      const s = { ...(await k.ready(p)), p };
      assert.ok((await kvKeysOf(s.tid, s.conn.id)).length >= 1, "the access-token replica is in KV while connected");
      const rt = p.issued[0].refresh_token;
      const r = await disconnect(s);
      assert.equal(r.status, 200, show(r));
      assert.equal(r.data.state, "disconnected");
      assert.equal(r.data.revocation, "revoked");
      assert.equal(r.data.expires_at, null, "expires_at cleared");
      assert.equal(p.revokeLog.length, 1);
      assert.equal(p.revokeLog[0].form.token, rt, "the refresh token is revoked");
      assert.match(p.revokeLog[0].headers.authorization ?? "", /^Basic /, "with the connector's client auth");
      assert.equal(p.introspect(rt).active, false, "dead at the provider");
      await assertGone(s, "disconnected");
      // Reconnect.
      await k.connect(s.tid, null, { connectionId: s.conn.id, sub: "back" });
      const res = await get(s, "resource/back");
      assert.equal(res.status, 200);
      assert.equal((await res.json()).sub, "back");
    });

    test("the revocation fails: revocation \"failed\", disconnected and forgotten all the same", async () => {
      const p = await k.provider();
      const s = { ...(await k.ready(p)), p };
      p.next("revoke", { status: 503, body: { error: "temporarily_unavailable" } });
      const r = await disconnect(s);
      assert.equal(r.status, 200, show(r));
      assert.equal(r.data.state, "disconnected");
      assert.equal(r.data.revocation, "failed");
      await assertGone(s, "failed revocation");
    });

    test("no revocation_url: revocation \"not_supported\", nothing sent", async () => {
      const p = await k.provider();
      const s = { ...(await k.ready(p, { connector: { revocation: false } })), p };
      const r = await disconnect(s);
      assert.equal(r.status, 200, show(r));
      assert.equal(r.data.revocation, "not_supported");
      assert.equal(p.stats.revocationRequests, 0);
      await assertGone(s, "not supported");
    });

    test("a pending connection (no tokens yet): revocation \"none\", nothing sent, disconnected", async () => {
      const p = await k.provider();
      const tid = await k.v.createTenant(`tdc${crypto.randomBytes(3).toString("hex")}`);
      const ctr = await k.connector(p);
      const init = await k.initiate(tid, { connector_id: ctr.id }, { expect: 201 });
      const r = await k.v.api("POST", `/tenants/${tid}/connections/${init.data.connection.id}/_disconnect`, { token: tenantToken(tid) });
      assert.equal(r.status, 200, show(r));
      assert.equal(r.data.state, "disconnected");
      assert.equal(r.data.revocation, "none");
      assert.equal(p.stats.revocationRequests, 0);
    });

    test("DELETE revokes too, then removes the connection", async () => {
      const p = await k.provider({});
      const s = await k.ready(p);
      const rt = p.issued[0].refresh_token;
      const r = await k.v.api("DELETE", `/tenants/${s.tid}/connections/${s.conn.id}`, { token: s.token });
      assert.equal(r.status, 204, show(r));
      assert.equal(p.revokeLog.length, 1);
      assert.equal(p.revokeLog[0].form.token, rt);
      assert.equal(p.introspect(rt).active, false);
      assert.equal((await k.v.api("GET", `/tenants/${s.tid}/connections/${s.conn.id}`, { token: s.token })).status, 404);
      assert.ok(await eventually(async () => (await kvKeysOf(s.tid, s.conn.id)).length === 0), "the replica is gone from KV");
    });
  });

  describe("a credentials route with an OAuth2 connection", () => {
    // The route's http terminal calls the provider's resource with the connection's
    // access token (data-plane host of the tenant, not the proxy endpoint).
    async function routed(p) {
      const s = await k.ready(p);
      const domain = `${crypto.randomBytes(5).toString("hex")}.oauth-route.test`;
      const d = await k.v.api("POST", `/tenants/${s.tid}/domains`, { body: { domain } });
      assert.equal(d.status, 201, show(d));
      const r = await k.v.api("POST", `/tenants/${s.tid}/routes`, {
        token: s.token,
        body: {
          match: { path: "/r/*" },
          handlers: [
            { type: "credentials", options: { connection_id: s.conn.id } },
            { type: "http", options: { upstream_url: `${p.url}/resource` } },
          ],
        },
      });
      assert.equal(r.status, 201, show(r));
      return { ...s, host: domain };
    }
    const viaRoute = (s, m) => call.fetch(`/r/${m}`, { host: s.host });

    test("the route sends the access token; a 401 is refreshed once and the bodyless call replayed (also when the warm call took the fast path)", async () => {
      const p = await k.provider();
      const s = await routed(p);
      const first = p.issued[0];
      const m1 = marker();
      assert.equal((await viaRoute(s, m1)).status, 200);
      assert.deepEqual(entries(p, m1).map((e) => e.token), [first.access_token], "the connection's token");
      // Warm now (the isolate holds the connection): the next call may take the fast path.
      assert.equal(p.revoke(first.access_token), true);
      const m2 = marker();
      const res = await viaRoute(s, m2);
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal(refreshes(p), 1, "one refresh");
      assert.deepEqual(entries(p, m2).map((e) => [e.status, e.token]), [[401, first.access_token], [200, p.issued[1].access_token]], "the call, then one replay");
      const wa = 'Bearer error="invalid_token"';
      p.next("resource", ...Array.from({ length: 4 }, () => ({ status: 401, body: { error: "invalid_token" }, headers: { "www-authenticate": wa } })));
      const m3 = marker();
      const again = await viaRoute(s, m3);
      assert.equal(again.status, 401, "a persistent 401 goes back");
      assert.equal(entries(p, m3).length, 2, "one call and one replay, no loop");
      assert.equal(refreshes(p), 2);
    });

    test("a token due for renewal is refreshed before the route's call", async () => {
      const p = await k.provider();
      p.options.reportedTtl = 2;
      let s;
      try {
        s = await routed(p);
      } finally {
        p.options.reportedTtl = undefined;
      }
      await pastRefreshPoint();
      const m = marker();
      assert.equal((await viaRoute(s, m)).status, 200);
      assert.equal(refreshes(p), 1);
      assert.deepEqual(entries(p, m).map((e) => e.token), [p.issued[1].access_token], "only the new token was sent");
    });
  });

  describe("key rotation", () => {
    // The keeper's worker keeps one ring in this suite, so a re-seal under a new key is
    // not reachable here; what is: the token set is indexed as a vault record under its
    // kid, the re-encryption job hands records under another kid to the keeper, and
    // the keeper re-indexes under the active kid without disturbing the tokens.
    test("the keeper's token set is a vault record: counted under its kid, re-sealed through the keeper by the job, forgotten on disconnect", async () => {
      const p = await k.provider();
      const s = await k.ready(p);
      const key = `v1/${s.tid}/connection-tokens/${s.conn.id}`;
      const row = () => h.db.prepare("SELECT kid, object FROM vault_records WHERE key = ?1").bind(key).first();
      const indexed = await row();
      assert.ok(indexed, "indexed once the token set was stored");
      assert.equal(indexed.object, "durable-object:ConnectionTokens");
      const active = JSON.parse(TEST_VAULT_KEYS).active;
      assert.equal(indexed.kid, active);
      // As if sealed under a key since rotated out of `active`.
      await h.db.prepare("UPDATE vault_records SET kid = 'k-retired' WHERE key = ?1").bind(key).run();
      const status = await k.v.api("GET", "/vault/status");
      assert.equal(status.status, 200, show(status));
      assert.ok(status.data.remaining >= 1, `status counts it as remaining: ${show(status)}`);
      const before = refreshes(p);
      let reencrypted = 0;
      for (let i = 0; i < 20 && (await row()).kid !== active; i++) {
        const r = await k.v.api("POST", "/vault/_reencrypt");
        assert.equal(r.status, 200, show(r));
        reencrypted += r.data.reencrypted;
      }
      assert.equal((await row()).kid, active, "re-indexed under the active kid by the keeper");
      assert.ok(reencrypted >= 1, "counted as re-encrypted");
      assert.equal(refreshes(p), before, "a re-seal is not a refresh");
      const m = marker();
      assert.equal((await get(s, `resource/${m}`)).status, 200, "the tokens still open");
      assert.equal(entries(p, m)[0].token, p.issued[0].access_token, "the same access token");
      const d = await k.v.api("POST", `/tenants/${s.tid}/connections/${s.conn.id}/_disconnect`, { token: s.token });
      assert.equal(d.status, 200, show(d));
      assert.equal(await row(), null, "the index row goes with the tokens");
    });
  });

  test("secret scan: no client secret, code, verifier, access or refresh token in any response, log line, D1 row or KV value", async () => {
    await logControl(h, scan, call);
    k.registerProviderSecrets();
    assert.ok(scan.secrets.some((x) => x.note === "refresh token"), "refresh tokens were registered");
    assert.ok(scan.secrets.some((x) => x.note === "access token"), "access tokens were registered");
    await scan.scanD1(h.db);
    await scan.scanKv(await h.mf.getKVNamespace("VAULT", "portico"));
    scan.assertClean("oauth_refresh");
  });
});
