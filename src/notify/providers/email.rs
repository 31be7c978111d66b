//! E-mail through an SMTP relay with `lettre`'s async transport and its connection pool:
//! STARTTLS, implicit TLS or plain by settings; multipart text + HTML from the templates
//! below; `List-Unsubscribe` (with one-click POST) on non-essential mail. SMTP 4xx maps to
//! retry-after, 5xx to permanent.

use std::fmt;
use std::sync::RwLock;
use std::time::Duration;

use lettre::message::header::{self, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::transport::TRANSPORT_RETRY;
use super::{Channel, ChannelKind, Delivered, OutboundMessage, SendError, SendResult};
use crate::settings::Secret;

/// How to secure the SMTP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain SMTP (only for a relay on the same host, or the simulator).
    None,
    /// Plain connect, then `STARTTLS` (required), usually port 587.
    StartTls,
    /// TLS from the first byte, usually port 465.
    Implicit,
}

/// Everything the e-mail client needs.
#[derive(Clone)]
pub struct EmailConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// Login and password, when the relay wants them.
    pub credentials: Option<(String, Secret)>,
    /// The sender mailbox, e.g. `Билет <noreply@bilet.ru>`.
    pub from: String,
    pub timeout: Duration,
    /// Most connections kept open to the relay.
    pub pool_size: u32,
}

impl fmt::Debug for EmailConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

/// Why the client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    #[error("the sender `{0}` is not a mailbox like `Name <user@domain>`")]
    From(String),
    #[error("SMTP TLS: {0}")]
    Tls(#[from] lettre::transport::smtp::Error),
}

/// The e-mail channel.
pub struct EmailClient {
    config: EmailConfig,
    /// The pooled transport and its generation; replaced after a timeout (see `send`).
    transport: RwLock<(u64, AsyncSmtpTransport<Tokio1Executor>)>,
    from: Mailbox,
    /// Right-hand side of our Message-IDs: the sender's domain.
    domain: String,
}

impl EmailClient {
    /// Builds the pooled transport; no connection is opened yet. Call it inside a Tokio
    /// runtime: the pool starts its reaper task here.
    pub fn new(config: EmailConfig) -> Result<Self, EmailError> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|_| EmailError::From(config.from.clone()))?;
        let domain = from.email.domain().to_owned();
        let transport = build_transport(&config)?;
        Ok(Self {
            config,
            transport: RwLock::new((0, transport)),
            from,
            domain,
        })
    }

    fn transport(&self) -> (u64, AsyncSmtpTransport<Tokio1Executor>) {
        // A poisoned lock only means a sender panicked; the transport inside is whole.
        self.transport
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces transport `generation` with a fresh pool. A send cut off by the timeout
    /// leaves its connection mid-command, and lettre would park it for reuse with a reply
    /// still unread; dropping the whole pool is the only way to keep it from being reused.
    fn replace_transport(&self, generation: u64) {
        let Ok(fresh) = build_transport(&self.config) else {
            return;
        };
        let mut current = self.transport.write().unwrap_or_else(|p| p.into_inner());
        if current.0 == generation {
            *current = (generation + 1, fresh);
        }
    }

    /// The message as it will be sent (the tests and the simulator check its shape).
    pub fn build_message(&self, message: &OutboundMessage) -> Result<Message, SendError> {
        let address = super::recipient_for(ChannelKind::Email, message)?;
        let to: Mailbox = address
            .parse()
            .map_err(|_| SendError::permanent("the e-mail address is malformed"))?;
        let unsubscribe = if message.essential {
            None
        } else {
            Some(message.unsubscribe_url.as_deref().ok_or_else(|| {
                SendError::permanent("non-essential mail needs an unsubscribe URL")
            })?)
        };
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(message.title.clone())
            .date_now()
            .message_id(Some(format!("<{}@{}>", message.delivery_id, self.domain)));
        if let Some(url) = unsubscribe {
            builder = builder
                .header(ListUnsubscribe(format!("<{url}>")))
                .header(ListUnsubscribePost);
        }
        let text = render_text(message, unsubscribe);
        let html = match &message.html_body {
            Some(html) => html.clone(),
            None => render_html(message, unsubscribe),
        };
        builder
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|err| SendError::permanent(format!("cannot build the e-mail: {err}")))
    }
}

#[async_trait::async_trait]
impl Channel for EmailClient {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Email
    }

    #[tracing::instrument(name = "email_send", skip_all, fields(delivery_id = %message.delivery_id))]
    async fn send(&self, message: &OutboundMessage) -> SendResult {
        let result = async {
            let email = self.build_message(message)?;
            let message_id = email
                .headers()
                .get_raw(header::MessageId::name().as_ref())
                .unwrap_or_default()
                .to_owned();
            let (generation, transport) = self.transport();
            // lettre's own timeout covers connecting only; this one covers the whole send.
            let sent = tokio::time::timeout(self.config.timeout, transport.send(email)).await;
            let Ok(sent) = sent else {
                self.replace_transport(generation);
                return Err(SendError::retry(
                    TRANSPORT_RETRY,
                    "the SMTP relay did not answer in time",
                ));
            };
            match sent {
                Ok(response) => {
                    let queued = response
                        .message()
                        .find_map(|line| line.split("queued as ").nth(1))
                        .map(|id| id.trim().to_owned());
                    Ok(Delivered {
                        provider_id: queued.unwrap_or(message_id),
                    })
                }
                Err(err) => Err(classify(&err)),
            }
        }
        .await;
        super::log_result(ChannelKind::Email, message, &result);
        result
    }
}

fn build_transport(config: &EmailConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, EmailError> {
    let builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host);
    let builder = match config.tls {
        SmtpTls::None => builder.tls(Tls::None),
        SmtpTls::StartTls => builder.tls(Tls::Required(TlsParameters::new(config.host.clone())?)),
        SmtpTls::Implicit => builder.tls(Tls::Wrapper(TlsParameters::new(config.host.clone())?)),
    };
    let mut builder = builder
        .port(config.port)
        .timeout(Some(config.timeout))
        .pool_config(PoolConfig::new().max_size(config.pool_size.max(1)));
    if let Some((user, password)) = &config.credentials {
        builder = builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
    }
    Ok(builder.build())
}

/// Maps an SMTP failure. Only the reply code is kept: servers echo addresses in the text.
fn classify(err: &lettre::transport::smtp::Error) -> SendError {
    let code = err
        .status()
        .map(|code| code.to_string())
        .unwrap_or_default();
    if err.is_transient() {
        SendError::retry(Duration::from_secs(60), format!("SMTP {code} (transient)"))
    } else if err.is_permanent() {
        SendError::permanent(format!("SMTP {code}"))
    } else if err.is_timeout() {
        SendError::retry(TRANSPORT_RETRY, "the SMTP relay did not answer in time")
    } else {
        SendError::retry(TRANSPORT_RETRY, "the SMTP connection failed")
    }
}

/// `List-Unsubscribe: <https://…>` (RFC 2369).
#[derive(Debug, Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058), which large mail
/// providers require of bulk senders.
#[derive(Debug, Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".to_owned())
    }
}

/// The text part: the body, the link, and the unsubscribe line for non-essential mail.
pub fn render_text(message: &OutboundMessage, unsubscribe: Option<&str>) -> String {
    let mut text = format!("{}\n\n{}\n", message.title, message.body);
    if let Some(link) = &message.link {
        text.push_str(&format!("\n{link}\n"));
    }
    if let Some(url) = unsubscribe {
        text.push_str(&format!("\n--\nОтписаться от этих писем: {url}\n"));
    }
    text
}

/// The HTML part, when the hub gave none: the same content in a plain layout.
pub fn render_html(message: &OutboundMessage, unsubscribe: Option<&str>) -> String {
    let title = escape_html(&message.title);
    let mut html = format!(
        "<!doctype html>\n<html lang=\"ru\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\n\
         <body style=\"font-family:Arial,sans-serif;font-size:16px;color:#222\">\n\
         <h1 style=\"font-size:20px\">{title}</h1>\n<p>{}</p>\n",
        escape_html(&message.body)
    );
    if let Some(link) = &message.link {
        let link = escape_html(link);
        html.push_str(&format!("<p><a href=\"{link}\">{link}</a></p>\n"));
    }
    if let Some(url) = unsubscribe {
        html.push_str(&format!(
            "<p style=\"font-size:12px;color:#777\"><a href=\"{}\">Отписаться от этих писем</a></p>\n",
            escape_html(url)
        ));
    }
    html.push_str("</body></html>\n");
    html
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::providers::Recipient;

    fn client() -> EmailClient {
        EmailClient::new(EmailConfig {
            host: "127.0.0.1".into(),
            port: 25,
            tls: SmtpTls::None,
            credentials: None,
            from: "Билет <noreply@bilet.test>".into(),
            timeout: Duration::from_secs(1),
            pool_size: 1,
        })
        .unwrap()
    }

    fn message() -> OutboundMessage {
        let mut message = OutboundMessage::new(
            ChannelKind::Email,
            Recipient::Email("parent@example.org".into()),
            "digest",
            "Новые события <недели>",
            "Пять событий рядом с домом",
        );
        message.link = Some("https://bilet.ru/e?a=1&b=2".into());
        message
    }

    #[tokio::test]
    async fn non_essential_mail_carries_list_unsubscribe_and_needs_its_url() {
        let mut digest = message();
        digest.essential = false;
        assert!(matches!(
            client().build_message(&digest),
            Err(SendError::Permanent(_))
        ));
        digest.unsubscribe_url = Some("https://bilet.ru/u/abc".into());
        let built =
            String::from_utf8(client().build_message(&digest).unwrap().formatted()).unwrap();
        assert!(
            built.contains("List-Unsubscribe: <https://bilet.ru/u/abc>"),
            "{built}"
        );
        assert!(built.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
        assert!(built.contains("multipart/alternative"));
        let essential =
            String::from_utf8(client().build_message(&message()).unwrap().formatted()).unwrap();
        assert!(!essential.contains("List-Unsubscribe"));
    }

    #[test]
    fn the_html_template_escapes_what_it_is_given() {
        let html = render_html(&message(), None);
        assert!(html.contains("Новые события &lt;недели&gt;"));
        assert!(html.contains("a=1&amp;b=2"));
    }
}
