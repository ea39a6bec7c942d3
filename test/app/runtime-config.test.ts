import { runInNewContext } from 'node:vm';
import { describe, expect, test } from 'vitest';
import {
  DEFAULT_MEDPLUM_BASE_URL,
  renderRuntimeConfigScript,
  resolveConfig,
  RUNTIME_CONFIG_GLOBAL,
} from '../../app/src/runtime-config.ts';

describe('resolveConfig', () => {
  test('rejects a build-time base URL that is not http(s)', () => {
    expect(() => resolveConfig({ MEDPLUM_BASE_URL: 'ftp://medplum.example.org/' }, undefined)).toThrow(
      'Invalid build-time env: MEDPLUM_BASE_URL: Medplum base URL must be an absolute http(s) URL'
    );
  });

  test('rejects a run-time base URL that is not absolute', () => {
    expect(() => resolveConfig({}, { medplumBaseUrl: '/medplum/' })).toThrow(
      `Invalid ${RUNTIME_CONFIG_GLOBAL} in /config.js: medplumBaseUrl: Medplum base URL must be an absolute http(s) URL`
    );
  });

  test('rejects unknown keys in the run-time config (a typo must not silently fall back to defaults)', () => {
    expect(() => resolveConfig({}, { baseURL: 'http://127.0.0.1:9000/' })).toThrow(
      `Invalid ${RUNTIME_CONFIG_GLOBAL} in /config.js: (root): Unrecognized key: "baseURL"`
    );
  });

  test('rejects a run-time config that is not an object', () => {
    expect(() => resolveConfig({}, 'http://127.0.0.1:9000/')).toThrow(
      `Invalid ${RUNTIME_CONFIG_GLOBAL} in /config.js: (root): Invalid input: expected object, received string`
    );
  });

  test('defaults to the local stack with no client or project when nothing is configured', () => {
    expect(resolveConfig({ MODE: 'production', DEV: false }, undefined)).toEqual({
      baseUrl: DEFAULT_MEDPLUM_BASE_URL,
      clientId: undefined,
      projectId: undefined,
    });
    expect(DEFAULT_MEDPLUM_BASE_URL).toBe('http://127.0.0.1:8103/');
  });

  test('treats empty env values as unset and adds the trailing slash MedplumClient needs', () => {
    expect(
      resolveConfig(
        { MEDPLUM_BASE_URL: 'https://medplum.example.org/api', MEDPLUM_CLIENT_ID: '  ', MEDPLUM_PROJECT_ID: '' },
        undefined
      )
    ).toEqual({ baseUrl: 'https://medplum.example.org/api/', clientId: undefined, projectId: undefined });
    expect(resolveConfig({ MEDPLUM_BASE_URL: '' }, undefined).baseUrl).toBe(DEFAULT_MEDPLUM_BASE_URL);
  });

  test('run-time values override build-time values key by key', () => {
    const env = {
      MEDPLUM_BASE_URL: 'https://built.example.org/',
      MEDPLUM_CLIENT_ID: 'built-client',
      MEDPLUM_PROJECT_ID: 'built-project',
    };
    expect(resolveConfig(env, { medplumBaseUrl: 'http://127.0.0.1:41234', clientId: 'runtime-client' })).toEqual({
      baseUrl: 'http://127.0.0.1:41234/',
      clientId: 'runtime-client',
      projectId: 'built-project',
    });
  });
});

describe('renderRuntimeConfigScript', () => {
  test('refuses to render an invalid config', () => {
    expect(() => renderRuntimeConfigScript({ medplumBaseUrl: 'not a url' })).toThrow(
      'Cannot render /config.js: medplumBaseUrl: Medplum base URL must be an absolute http(s) URL'
    );
  });

  test('renders a script that, run in a page, yields the same config', () => {
    const script = renderRuntimeConfigScript({
      medplumBaseUrl: 'http://127.0.0.1:41234/',
      clientId: 'client-1',
      projectId: 'project-1',
    });
    expect(script).toBe(
      `window.${RUNTIME_CONFIG_GLOBAL} = {"medplumBaseUrl":"http://127.0.0.1:41234/","clientId":"client-1","projectId":"project-1"};\n`
    );

    const window: Record<string, unknown> = {};
    runInNewContext(script, { window });
    expect(resolveConfig({}, window[RUNTIME_CONFIG_GLOBAL])).toEqual({
      baseUrl: 'http://127.0.0.1:41234/',
      clientId: 'client-1',
      projectId: 'project-1',
    });
  });
});
