/**
 * `npm run bench:sharing` (issue 9 §7): how fast a grant holds and a revoke bites, and what each costs. One local
 * stack (default FHIR quota), an owner with a small record, the demo clinician signed in once — every
 * measurement uses the token they already hold, as a clinician's open app would. Takes about 6 minutes.
 *
 * 1. Grant → first allowed read, BENCH_GRANTS times (default 20): from the owner's `share` call to the clinician's
 *    first read of a granted record that succeeds (polled every 20 ms).
 * 2. Revoke → denied: from the owner's revoke call to the clinician's next request being refused (it must be the
 *    very next request: the membership is rewritten before the bot answers).
 * 3. Cost per grant and per revoke: FHIR requests the share bot made and its quota points (the stack's ledger).
 * 4. End → denied, BENCH_EXPIRIES times (default 5): grants ending 2 s after creation at random points of the
 *    minute, the stack's cron running as on a server; from the grant's end to the clinician's first refused read.
 *    Bound: one cron period (a minute) plus a share-reconcile run.
 */
import { randomUUID } from 'node:crypto';
import { Buffer } from 'node:buffer';
import { setTimeout as sleep } from 'node:timers/promises';
import type { WithId } from '@medplum/core';
import type { Patient, Practitioner } from '@medplum/fhirtypes';
import { z } from 'zod';
import { startTestStack } from '../../test/harness/stack.ts';
import { canRead, grant, readStatus, revoke, share } from '../e2e/sharing-client.ts';
import { daysAgo, seedRecord } from '../e2e/sharing-record.ts';
import { announce } from './about.ts';

const GRANTS = Number(process.env.BENCH_GRANTS ?? 20);
const EXPIRIES = Number(process.env.BENCH_EXPIRIES ?? 5);

announce('bench:sharing', `about 6 minutes (${GRANTS} grants and revokes, ${EXPIRIES} expiries)`);

// Counts the share bot's FHIR requests on the wire (bots run in node:vm with this process's fetch).
const TokenClaims = z.looseObject({ profile: z.string().optional() });
const wire: string[] = [];
const realFetch = globalThis.fetch;
globalThis.fetch = (input, init) => {
  const request = input instanceof Request ? input : undefined;
  const url = new URL(request ? request.url : String(input));
  const auth = new Headers(init?.headers ?? request?.headers).get('authorization') ?? '';
  const payload = /^Bearer [^.]+\.([^.]+)\./i.exec(auth)?.[1];
  if (payload && (url.pathname.startsWith('/fhir/R4') || url.pathname.startsWith('/admin/'))) {
    const claims = TokenClaims.safeParse(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')));
    wire.push(claims.success ? (claims.data.profile ?? '') : '');
  }
  return realFetch(input, init);
};

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}
function spread(values: readonly number[], unit: string, digits = 0): string {
  const sorted = [...values].sort((a, b) => a - b);
  const f = (v: number): string => `${v.toFixed(digits)} ${unit}`;
  return `median ${f(percentile(sorted, 50))}, p95 ${f(percentile(sorted, 95))}, max ${f(sorted.at(-1) ?? Number.NaN)} (n = ${sorted.length})`;
}
const figures: [string, string][] = [];
function figure(name: string, value: string): void {
  figures.push([name, value]);
  console.log(`  ${name}: ${value}`);
}

const env = await startTestStack();
try {
  const owner = await env.signIn('owner');
  const clinician = await env.signIn('clinician');
  const patient = (await owner.getProfileAsync()) as WithId<Patient>;
  const drId = ((await clinician.getProfileAsync()) as WithId<Practitioner>).id;
  const record = await seedRecord(env.adminClient, `Patient/${patient.id}`);
  const shareBot = env.deployReport.bots.find((b) => b.identifier === 'share');
  const botProfile = `Bot/${shareBot?.id ?? ''}`;
  const membership = shareBot?.membershipId ?? '';
  const ledger = (): number => env.stack.ctx.stats.quotaPoints[membership] ?? 0;
  const grantInput = {
    grantee: { practitioner: drId },
    groups: ['heart' as const, 'sleep' as const],
    content: ['wearable' as const, 'derived' as const],
  };

  console.log(`\n1–3. ${GRANTS} grants and revokes (the clinician's token is the same throughout)`);
  const toAllowed: number[] = [];
  const toDenied: number[] = [];
  const grantCost: { requests: number; points: number }[] = [];
  const revokeCost: { requests: number; points: number }[] = [];
  for (let i = 0; i < GRANTS; i++) {
    let from = wire.length;
    let points = ledger();
    const t0 = performance.now();
    const g = await grant(owner, grantInput);
    grantCost.push({ requests: wire.slice(from).filter((p) => p === botProfile).length, points: ledger() - points });
    while (!(await canRead(clinician, record.hrvRecent))) {
      await sleep(20);
    }
    toAllowed.push(performance.now() - t0);

    from = wire.length;
    points = ledger();
    const t1 = performance.now();
    await revoke(owner, g.id);
    revokeCost.push({ requests: wire.slice(from).filter((p) => p === botProfile).length, points: ledger() - points });
    const status = await readStatus(clinician, record.hrvRecent);
    if (status === 200) {
      throw new Error('after revoke, the next request was still allowed');
    }
    toDenied.push(performance.now() - t1);
  }
  figure('grant → first allowed read', spread(toAllowed, 'ms'));
  figure('revoke → denied (next request)', spread(toDenied, 'ms'));
  const avg = (xs: { requests: number; points: number }[]): string =>
    `${(xs.reduce((s, x) => s + x.requests, 0) / xs.length).toFixed(1)} FHIR requests, ${(
      xs.reduce((s, x) => s + x.points, 0) / xs.length
    ).toFixed(0)} quota points`;
  figure('cost of a grant (share bot)', avg(grantCost));
  figure('cost of a revoke (share bot)', avg(revokeCost));

  console.log(`\n4. ${EXPIRIES} grants ending 2 s after they start, cron running (share-reconcile every minute)`);
  env.stack.cron.start();
  const toEnded: number[] = [];
  for (let i = 0; i < EXPIRIES; i++) {
    // Ends at random points of the cron minute; back to back, every end would fall just after a tick (worst case).
    await sleep(Math.random() * 55_000);
    const end = new Date(Date.now() + 2000);
    await share(owner, {
      action: 'create',
      key: randomUUID(),
      ...grantInput,
      since: daysAgo(30),
      until: end.toISOString(),
    });
    await sleep(Math.max(0, end.getTime() - Date.now()));
    while (await canRead(clinician, record.hrvRecent)) {
      await sleep(250);
    }
    toEnded.push((Date.now() - end.getTime()) / 1000);
  }
  env.stack.cron.stop();
  figure('grant end → denied', `${spread(toEnded, 's', 1)}; bound: one cron period (60 s) + one reconcile run`);

  console.log('\nFigures (npm run bench:sharing)');
  for (const [name, value] of figures) {
    console.log(`  ${name}: ${value}`);
  }
} finally {
  await env.stop();
}
