import { comparePositions, decodeToken, type Position } from '../../durable/position.js'

/**
 * The position of a durable token, to order tokens of one log: a catch-up and the shared live reader meet
 * where one's positions pass the other's. The token's own issuer is taken as the log, so this only parses;
 * the log itself refuses a token it did not issue.
 */
export function positionOfToken(token: string): Position {
  return decodeToken(token, token.split('.')[1] ?? '')
}

/** True when `token` comes after `position` in the log's order. */
export function isAfter(token: string, position: Position): boolean {
  return comparePositions(positionOfToken(token), position) > 0
}
