/** mulberry32: a small seeded generator, so a failing fault run can be repeated with the seed it printed. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seed of the whole fault run: `DAS_FAULTS_SEED`, else a fixed default so CI runs repeat. */
export const FAULT_SEED = Number(process.env.DAS_FAULTS_SEED ?? 20250601);
