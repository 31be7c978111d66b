//! The notification hub: turns events into notices for each family member and delivers
//! them. For now it holds only the delivery channels (`providers`); the outbox relay,
//! fan-out, policy, templates and ledger come with the hub issue.

pub mod providers;
