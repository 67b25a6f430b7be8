/** The bodies of a markdown text's fenced blocks of one language (```sql … ```), in order. */
export function fencedBlocks(markdown: string, language: string): string[] {
  return [...markdown.matchAll(new RegExp('^```' + language + '\\n([\\s\\S]*?)^```', 'gm'))].map((match) => match[1] ?? '')
}
