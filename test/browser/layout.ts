/**
 * Whether a page works at a phone's width, measured in the page itself: the header stays one row (nothing in it
 * reaches below its own box, so nothing is drawn over the page), the page's content starts below the header, and
 * nothing makes the page wider than the screen (no sideways scrolling).
 */
import type { Page } from 'playwright-core';
import { expect } from 'vitest';
import { z } from 'zod';

export interface LayoutMeasurements {
  readonly viewportWidth: number;
  readonly scrollWidth: number;
  /** Undefined on a page without the app's header. */
  readonly headerHeight: number | undefined;
  readonly headerBottom: number | undefined;
  /** The lowest bottom edge of anything visible inside the header. */
  readonly headerContentBottom: number | undefined;
  /** The highest top edge of anything visible inside the main content. */
  readonly contentTop: number | undefined;
  /** Visible elements whose right edge is beyond the viewport, for the failure message. */
  readonly overflowing: string[];
}

/** The tallest header that still counts as one row (Mantine's AppShell header is 56 px here). */
export const MAX_HEADER_HEIGHT = 64;

/**
 * Runs in the page. A string, not a function: this repository's scripts and tests are type-checked without the DOM
 * library (they run in Node), so the in-page code is plain JavaScript and its answer is parsed with zod.
 */
const MEASURE_SCRIPT = `(() => {
  const visible = (el) => {
    const rect = el.getBoundingClientRect();
    const style = window.getComputedStyle(el);
    if (rect.width === 0 || rect.height === 0 || style.visibility === 'hidden' || style.display === 'none') {
      return undefined;
    }
    return rect;
  };
  const describe = (el) =>
    el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (typeof el.className === 'string' && el.className.trim() ? '.' + el.className.trim().split(/\\s+/).slice(0, 2).join('.') : '');
  const header = document.querySelector('.mantine-AppShell-header');
  const main = document.querySelector('.mantine-AppShell-main');
  const headerRect = header ? visible(header) : undefined;
  let headerContentBottom = null;
  for (const el of header ? header.querySelectorAll('*') : []) {
    const rect = visible(el);
    if (rect) {
      headerContentBottom = Math.max(headerContentBottom ?? 0, rect.bottom);
    }
  }
  let contentTop = null;
  for (const el of main ? main.querySelectorAll('*') : []) {
    const rect = visible(el);
    if (rect) {
      contentTop = Math.min(contentTop ?? Number.POSITIVE_INFINITY, rect.top);
    }
  }
  const viewportWidth = document.documentElement.clientWidth;
  const overflowing = [];
  for (const el of document.body.querySelectorAll('*')) {
    const rect = visible(el);
    if (rect && rect.right > viewportWidth + 1 && overflowing.length < 10) {
      overflowing.push(describe(el) + ' right=' + Math.round(rect.right));
    }
  }
  return {
    viewportWidth,
    scrollWidth: (document.scrollingElement ?? document.documentElement).scrollWidth,
    headerHeight: headerRect ? headerRect.height : null,
    headerBottom: headerRect ? headerRect.bottom : null,
    headerContentBottom,
    contentTop,
    overflowing,
  };
})()`;

const absent = (v: number | null): number | undefined => v ?? undefined;
const MeasurementsSchema = z.object({
  viewportWidth: z.number(),
  scrollWidth: z.number(),
  headerHeight: z.number().nullable().transform(absent),
  headerBottom: z.number().nullable().transform(absent),
  headerContentBottom: z.number().nullable().transform(absent),
  contentTop: z.number().nullable().transform(absent),
  overflowing: z.array(z.string()),
});

export async function measureLayout(page: Page): Promise<LayoutMeasurements> {
  // Scrolled to the top, as a person arriving on the page sees it (the header is fixed, the content is not).
  await page.evaluate('window.scrollTo(0, 0)');
  return MeasurementsSchema.parse(await page.evaluate(MEASURE_SCRIPT));
}

/**
 * Asserts the page fits a phone of `width` CSS pixels (see the file comment).
 * @param page - the page, loaded and settled.
 * @param width - the viewport width the page must fit.
 * @param label - which page, for failure messages.
 */
export async function expectFitsPhone(page: Page, width: number, label: string): Promise<LayoutMeasurements> {
  const m = await measureLayout(page);
  const context = `${label}: ${JSON.stringify(m)}`;
  expect(m.viewportWidth, context).toBe(width);
  expect(m.scrollWidth, context).toBeLessThanOrEqual(width);
  if (m.headerHeight !== undefined && m.headerBottom !== undefined) {
    expect(m.headerHeight, context).toBeLessThanOrEqual(MAX_HEADER_HEIGHT);
    // Half a pixel of sub-pixel rounding is fine; a wrapped row is tens of pixels.
    expect(m.headerContentBottom ?? 0, context).toBeLessThanOrEqual(m.headerBottom + 0.5);
    expect(m.contentTop, context).toBeDefined();
    expect(m.contentTop ?? 0, context).toBeGreaterThanOrEqual(m.headerBottom - 0.5);
  }
  return m;
}
