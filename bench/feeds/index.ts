import type { Feed, FeedFactory } from './types.js'

/** Loaded on demand, so a worker imports only the library it runs. */
export async function feedFactory(feed: Feed): Promise<FeedFactory> {
  switch (feed) {
    case 'rxpg':
      return (await import('./rxpg.js')).rxpgFeed
    case 'pg-logical-replication':
      return (await import('./pg-logical-replication.js')).pgLogicalReplicationFeed
    case 'postgres':
      return (await import('./postgres.js')).postgresFeed
    case 'notify':
      return (await import('./notify.js')).notifyFeed
  }
}
