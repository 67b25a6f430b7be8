/**
 * @internal Which of a trigger condition's row variables, NEW and OLD, it names. PostgreSQL refuses a row
 * trigger's WHEN that names OLD on INSERT or NEW on DELETE; a statement-level feed evaluates the condition over
 * a transition table, where such a name would silently be null and drop every change. So rxpg refuses them for
 * every level, before any SQL is generated.
 *
 * A light scan, not a parser: string constants ('…', E'…', $tag$…$tag$), comments and quoted names other than
 * "new" and "old" are skipped, and NEW or OLD counts where it stands as a word of its own (`NEW.total`,
 * `OLD IS DISTINCT FROM NEW`, `"old".total`), not inside another name (`renewed`, `new_total`, `t.new`).
 */
export function rowVariablesOf(condition: string): { readonly new: boolean; readonly old: boolean } {
  const found = { new: false, old: false }
  const text = condition
  let at = 0
  while (at < text.length) {
    const rest = text.slice(at)
    // A quoted "new" or "old" (exactly, lower case) is the row variable too; other quoted names are not.
    const quoted = /^"(?:[^"]|"")*"/.exec(rest)
    if (quoted !== null) {
      if ((quoted[0] === '"new"' || quoted[0] === '"old"') && text[at - 1] !== '.') found[quoted[0] === '"new"' ? 'new' : 'old'] = true
      at += quoted[0].length
      continue
    }
    const skipped =
      /^[Ee]'(?:[^'\\]|\\[\s\S]|'')*'/.exec(rest) ?? // a string constant with backslash escapes (E'it\'s')
      /^'(?:[^']|'')*'/.exec(rest) ?? // a string constant
      /^--[^\n]*/.exec(rest) ??
      /^\/\*[\s\S]*?\*\//.exec(rest) ??
      /^(\$[A-Za-z_]*\$)[\s\S]*?\1/.exec(rest)
    if (skipped !== null) {
      at += skipped[0].length
      continue
    }
    const word = /^[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*/.exec(rest)
    if (word !== null) {
      const previous = text[at - 1]
      const lower = word[0].toLowerCase()
      // After a dot it is a member (t.new), not the row variable.
      if ((lower === 'new' || lower === 'old') && previous !== '.') found[lower] = true
      at += word[0].length
      continue
    }
    at += 1
  }
  return found
}
