//! The notification hub. A domain event committed to the outbox is relayed into a Redis
//! stream; fan-out turns it into one notification per recipient and one delivery per
//! recipient, channel and device in the PostgreSQL ledger; each channel's senders deliver
//! through `providers`, retry, and dead-letter. The ledger is the truth: the reconciler
//! refills the streams from it whenever Redis lost work.

pub mod codes;
pub mod fanout;
pub mod hub;
pub mod in_flight;
pub mod links;
pub mod policy;
pub mod preview;
pub mod providers;
pub mod reconciler;
pub mod relay;
pub mod sender;
pub mod streams;
pub mod templates;
