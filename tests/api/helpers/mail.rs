//! Helpers for what the e-mail simulator received: the messages to one address and the
//! codes they carry.

use bilet::notify::providers::ChannelKind;
use bilet::simulators::inbox::Accepted;

use super::TestApp;

impl TestApp {
    /// The e-mails to `address`, once there are at least `count` (fails after 20 s).
    pub async fn mails(&self, address: &str, count: usize) -> Vec<Accepted> {
        let mails = self.received(ChannelKind::Email, address, count).await;
        assert!(
            mails.len() >= count,
            "expected {count} e-mails to the address, got {}",
            mails.len()
        );
        mails
    }

    /// The code in the newest of the e-mails to `address` that carries one, once there are
    /// at least `count` e-mails.
    pub async fn newest_mailed_code(&self, address: &str, count: usize) -> String {
        self.mails(address, count)
            .await
            .iter()
            .rev()
            .find_map(code_in)
            .expect("an e-mail with a code")
    }
}

/// The six-digit code in an e-mail's subject, if it has one.
pub fn code_in(mail: &Accepted) -> Option<String> {
    let subject = mail.headers.get("subject")?;
    let chars: Vec<char> = subject.chars().collect();
    let mut run = String::new();
    for (i, c) in chars.iter().enumerate() {
        if c.is_ascii_digit() {
            run.push(*c);
        } else {
            run.clear();
        }
        let ends = chars.get(i + 1).is_none_or(|n| !n.is_ascii_digit());
        if run.len() == 6 && ends {
            return Some(run);
        }
    }
    None
}
