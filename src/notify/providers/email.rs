//! E-mail through an SMTP relay over connections of our own making: `TCP_NODELAY` on
//! (lettre's pooled transport leaves Nagle on, and its final `.` then waits 40 ms for the
//! relay's delayed ACK, see `BENCHMARKS.md`), STARTTLS, implicit TLS or plain by settings,
//! lettre's SMTP dialogue on each; multipart text + HTML from the templates below;
//! `List-Unsubscribe` (with one-click POST) on non-essential mail. SMTP 4xx maps to
//! retry-after, 5xx to permanent.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use lettre::Message;
use lettre::message::header::{self, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::transport::TRANSPORT_RETRY;
use super::{Channel, ChannelKind, Delivered, OutboundMessage, SendError, SendResult};
use crate::settings::Secret;

/// A connection idle longer than this is checked with `NOOP` before it is used again
/// (relays close idle connections; RFC 5321 asks them to wait at least five minutes).
const CHECK_IDLE_AFTER: Duration = Duration::from_secs(10);
/// A connection idle longer than this is closed rather than reused.
const CLOSE_IDLE_AFTER: Duration = Duration::from_secs(60);

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

impl fmt::Display for SmtpTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SmtpTls::None => "plain",
            SmtpTls::StartTls => "STARTTLS",
            SmtpTls::Implicit => "implicit TLS",
        })
    }
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
    #[error("TLS: {0}")]
    Rustls(rustls::Error),
}

/// The e-mail channel.
pub struct EmailClient {
    config: EmailConfig,
    /// STARTTLS, in lettre's terms.
    tls: Option<TlsParameters>,
    /// Implicit TLS, with the webpki roots (lettre's own choice of roots).
    implicit: Option<tokio_rustls::TlsConnector>,
    credentials: Option<Credentials>,
    hello: ClientId,
    /// Open connections not in use, with when each was last used.
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
    /// One permit per connection that may be open at once.
    slots: tokio::sync::Semaphore,
    from: Mailbox,
    /// Right-hand side of our Message-IDs: the sender's domain.
    domain: String,
}

impl EmailClient {
    /// Checks the settings; no connection is opened until the first message.
    pub fn new(config: EmailConfig) -> Result<Self, EmailError> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|_| EmailError::From(config.from.clone()))?;
        let domain = from.email.domain().to_owned();
        let tls = match config.tls {
            SmtpTls::StartTls => Some(TlsParameters::new(config.host.clone())?),
            SmtpTls::None | SmtpTls::Implicit => None,
        };
        let implicit = (config.tls == SmtpTls::Implicit).then(|| {
            let roots =
                rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map(|config| {
                    let config = config.with_root_certificates(roots).with_no_client_auth();
                    tokio_rustls::TlsConnector::from(Arc::new(config))
                })
        });
        let implicit = match implicit {
            Some(Err(err)) => return Err(EmailError::Rustls(err)),
            Some(Ok(connector)) => Some(connector),
            None => None,
        };
        let credentials = config
            .credentials
            .as_ref()
            .map(|(user, password)| Credentials::new(user.clone(), password.expose().to_owned()));
        Ok(Self {
            tls,
            implicit,
            credentials,
            hello: ClientId::default(),
            idle: Mutex::new(Vec::new()),
            slots: tokio::sync::Semaphore::new(config.pool_size.max(1) as usize),
            config,
            from,
            domain,
        })
    }

    /// An idle connection still open, or a new one.
    async fn connection(&self) -> Result<AsyncSmtpConnection, SendError> {
        loop {
            // A poisoned lock only means a sender panicked; the list inside is whole.
            let reused = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let Some((mut conn, since)) = reused else {
                return self.connect().await;
            };
            let idle = since.elapsed();
            if conn.has_broken() || idle > CLOSE_IDLE_AFTER {
                continue;
            }
            if idle <= CHECK_IDLE_AFTER || conn.test_connected().await {
                return Ok(conn);
            }
        }
    }

    /// Connects with `TCP_NODELAY`, secures the connection as configured, says EHLO and
    /// logs in.
    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let unreachable = |_| SendError::retry(TRANSPORT_RETRY, "the SMTP connection failed");
        let tcp = tokio::time::timeout(
            self.config.timeout,
            TcpStream::connect((self.config.host.as_str(), self.config.port)),
        )
        .await
        .map_err(|_| SendError::retry(TRANSPORT_RETRY, "the SMTP relay did not answer in time"))?
        .map_err(unreachable)?;
        tcp.set_nodelay(true).map_err(unreachable)?;
        let failed = |err: lettre::transport::smtp::Error| classify(&err);
        let mut conn = match &self.implicit {
            Some(connector) => {
                let name = rustls::pki_types::ServerName::try_from(self.config.host.clone())
                    .map_err(|_| SendError::permanent("the SMTP host is not a valid TLS name"))?;
                let secured = connector.connect(name, tcp).await.map_err(|_| {
                    SendError::retry(TRANSPORT_RETRY, "the SMTP TLS handshake failed")
                })?;
                let secured: Box<dyn AsyncTokioStream> = Box::new(Secured(secured));
                AsyncSmtpConnection::connect_with_transport(secured, &self.hello)
                    .await
                    .map_err(failed)?
            }
            None => AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello)
                .await
                .map_err(failed)?,
        };
        if let (SmtpTls::StartTls, Some(tls)) = (self.config.tls, &self.tls) {
            if !conn.can_starttls() {
                return Err(SendError::retry(
                    TRANSPORT_RETRY,
                    "the SMTP relay does not offer STARTTLS",
                ));
            }
            conn.starttls(tls.clone(), &self.hello)
                .await
                .map_err(failed)?;
        }
        if let Some(credentials) = &self.credentials {
            conn.auth(DEFAULT_MECHANISMS, credentials)
                .await
                .map_err(failed)?;
        }
        Ok(conn)
    }

    /// Sends one message on a connection of the pool; a connection that failed or timed
    /// out mid-command is dropped, never reused with a reply unread.
    async fn transmit(
        &self,
        email: &Message,
    ) -> Result<lettre::transport::smtp::response::Response, SendError> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| SendError::retry(TRANSPORT_RETRY, "the e-mail channel is closing"))?;
        let sent = tokio::time::timeout(self.config.timeout, async {
            let mut conn = self.connection().await?;
            let response = conn
                .send(email.envelope(), &email.formatted())
                .await
                .map_err(|err| classify(&err))?;
            Ok::<_, SendError>((conn, response))
        })
        .await;
        match sent {
            Err(_) => Err(SendError::retry(
                TRANSPORT_RETRY,
                "the SMTP relay did not answer in time",
            )),
            Ok(Err(err)) => Err(err),
            Ok(Ok((conn, response))) => {
                self.idle
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((conn, Instant::now()));
                Ok(response)
            }
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
            let sent = self.transmit(&email).await;
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
                Err(err) => Err(err),
            }
        }
        .await;
        super::log_result(ChannelKind::Email, message, &result);
        result
    }
}

/// An implicit-TLS stream, handed to lettre as the transport of a connection (so that
/// the socket under it is ours, with `TCP_NODELAY`).
struct Secured(TlsStream<TcpStream>);

impl fmt::Debug for Secured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secured")
    }
}

impl AsyncTokioStream for Secured {
    fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

impl AsyncRead for Secured {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Secured {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
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
