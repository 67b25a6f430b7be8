/** @internal A change as a carrier delivers it: its JSON text, before it is read into its JSON form and decoded. */
export interface WireChange {
  /** The change's JSON, as the trigger wrote it. */
  readonly text: string
  /** Durable: the key's JSON (the log row's key column). Light carries the key inside `text`. */
  readonly keyText?: string | undefined
  /** Durable: the change's resume token. */
  readonly token?: string | undefined
  /** Durable: when the writing statement started (the log row's time). Light carries it inside `text`. */
  readonly statementTime?: Date | undefined
}
