/**
 * Every optional property in lib/ says `| undefined`, so that a project compiled with
 * `exactOptionalPropertyTypes` can pass a maybe-value (`{ key: order.key }` with `key: string | undefined`) to
 * any option or field, as the library itself accepts at run time.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'

const root = resolve(import.meta.dirname, '../..')

function admitsUndefined(type: ts.TypeNode): boolean {
  if (type.kind === ts.SyntaxKind.UndefinedKeyword || type.kind === ts.SyntaxKind.UnknownKeyword || type.kind === ts.SyntaxKind.AnyKeyword) return true
  if (ts.isUnionTypeNode(type)) return type.types.some(admitsUndefined)
  if (ts.isParenthesizedTypeNode(type)) return admitsUndefined(type.type)
  return false
}

/** True for a type written in a declaration (an interface, a type alias, a parameter), not in a cast or a body. */
function declared(node: ts.Node): boolean {
  let inDeclaration = false
  for (let at = node.parent; at !== undefined; at = at.parent) {
    if (ts.isAsExpression(at) || ts.isBlock(at)) return false
    if (ts.isParameter(at) || ts.isPropertySignature(at) || ts.isTypeAliasDeclaration(at) || ts.isInterfaceDeclaration(at)) inDeclaration = true
  }
  return inDeclaration
}

/** `file:line name` of each optional property signature whose type leaves out undefined, and each declared `Partial`. */
function optionalsWithoutUndefined(fileName: string, text: string): string[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true)
  const found: string[] = []
  const visit = (node: ts.Node) => {
    if (ts.isPropertySignature(node) && node.questionToken !== undefined && node.type !== undefined && !admitsUndefined(node.type)) {
      const { line } = source.getLineAndCharacterOfPosition(node.getStart(source))
      found.push(`${fileName}:${line + 1} ${node.name.getText(source)}`)
    }
    if (ts.isTypeReferenceNode(node) && node.typeName.getText(source) === 'Partial' && declared(node)) {
      const { line } = source.getLineAndCharacterOfPosition(node.getStart(source))
      found.push(`${fileName}:${line + 1} Partial (use OptionalFields)`)
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return found
}

describe('optional properties', () => {
  it('finds one that leaves out undefined, nested or not', () => {
    const text = 'export interface A { readonly a?: number; b?: string | undefined; c?: { d?: () => void } }'
    expect(optionalsWithoutUndefined('a.ts', text)).toEqual(['a.ts:1 a', 'a.ts:1 c', 'a.ts:1 d'])
  })

  it('finds a declared Partial, and leaves one in a cast or a body alone', () => {
    const text = 'type B = Partial<A>\nfunction f(b: Partial<A>) { const c: Partial<A> = {}; return b as { d?: Partial<A> | undefined } }'
    expect(optionalsWithoutUndefined('b.ts', text)).toEqual(['b.ts:1 Partial (use OptionalFields)', 'b.ts:2 Partial (use OptionalFields)'])
  })

  it('all admit undefined in lib/', () => {
    const files = readdirSync(join(root, 'lib'), { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.ts'))
    const found = files.flatMap((file) => optionalsWithoutUndefined(relative(root, join(root, 'lib', file)), readFileSync(join(root, 'lib', file), 'utf8')))
    expect(found).toEqual([])
  })
})
