/** The chunk ids still needed, in plan order, each once. */
export function neededChunks(chunkIds: readonly string[], held: ReadonlyMap<string, number>): string[] {
  const seen = new Set<string>();
  const needed: string[] = [];
  for (const id of chunkIds) {
    if (seen.has(id)) continue;
    seen.add(id);
    // Held chunks are keyed by MD5 alone: a chunk id is the MD5 followed by its index.
    if (!held.has(id.slice(0, 32))) needed.push(id);
  }
  return needed;
}
