//! The delivery ledger's states: one row per notification, channel and device.

use super::vocabulary::vocabulary;

vocabulary!(
    /// Where a delivery stands, as the `deliveries.status` column allows it.
    DeliveryStatus("delivery status") {
        /// Waiting for its next attempt.
        Pending = "pending",
        /// Leased by a sender, in flight to its provider.
        Sending = "sending",
        Delivered = "delivered",
        /// Refused for good by the provider (or unreadable).
        Failed = "failed",
        /// Out of attempts.
        Dead = "dead",
        /// Not sent: its subject was settled first (e.g. the sign-up was decided).
        Skipped = "skipped",
    }
);
