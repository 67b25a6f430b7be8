// "rxpg/ports": the two ports a listener runs on, for writing a source or a transport of your own (as
// rxpg/pg-listen does) and for drawing send failures in marble tests.
export type { ListenSession, NotificationSource, RawNotification } from './notification-source.js'
export { DISPATCHED, SendFailure, type NotifyTransport, type OutgoingNotification, type SendFailureKind } from './notify-transport.js'
