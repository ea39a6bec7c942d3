import { randomUUID } from 'node:crypto';
import type { Observation, Patient, Task } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { computeCompartments, getPatientReferences, isCoveredByPatientCompartment } from './compartment.ts';

describe('patient compartment', () => {
  test('a Patient is in its own compartment', () => {
    const id = randomUUID();
    const patient: Patient = { resourceType: 'Patient', id };
    expect(getPatientReferences(patient)).toEqual([`Patient/${id}`]);
  });

  test('Observation: subject and performer count, focus does not', () => {
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    const observation: Observation = {
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'x' },
      subject: { reference: `Patient/${a}` },
      performer: [{ reference: `Patient/${b}` }, { reference: 'Practitioner/p' }],
      focus: [{ reference: `Patient/${c}` }],
    };
    expect(getPatientReferences(observation)).toEqual([`Patient/${a}`, `Patient/${b}`]);
  });

  test('Task is in the compartment of its patient (Medplum 5 definitions)', () => {
    const id = randomUUID();
    const task: Task = {
      resourceType: 'Task',
      status: 'requested',
      intent: 'order',
      for: { reference: `Patient/${id}` },
    };
    expect(getPatientReferences(task)).toEqual([`Patient/${id}`]);
  });

  test('meta.compartment lists project, accounts and patients, UUIDs only', () => {
    const [project, account, patient] = [randomUUID(), randomUUID(), randomUUID()];
    const observation: Observation = {
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'x' },
      meta: { project, accounts: [{ reference: `Organization/${account}` }, { reference: 'Organization/not-a-uuid' }] },
      subject: { reference: `Patient/${patient}` },
      performer: [{ reference: 'Patient/not-a-uuid' }],
    };
    expect(computeCompartments(observation)).toEqual([
      { reference: `Project/${project}` },
      { reference: `Organization/${account}` },
      { reference: `Patient/${patient}` },
    ]);
  });

  test('only parameters fully inside the compartment may use the compartment index', () => {
    expect(isCoveredByPatientCompartment('Observation', 'subject')).toBe(true);
    expect(isCoveredByPatientCompartment('Observation', 'patient')).toBe(true);
    expect(isCoveredByPatientCompartment('Observation', 'focus')).toBe(false);
    expect(isCoveredByPatientCompartment('Organization', 'partof')).toBe(false);
  });
});
