/** Fisher–Yates, in place: `items` in a random order (`random`, Math.random by default, seeded in tests). */
export function shuffled<T>(items: T[], random: () => number = Math.random): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
