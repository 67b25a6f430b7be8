// "rxpg/pg-listen": an adapter that runs rxpg's listener on a pg-listen subscriber you already have.
export { pgListenSource, type PgListenNotification, type PgListenSourceOptions, type PgListenSubscriber } from './pg-listen-source.js'
