//! The SMTP simulator: a small ESMTP server (EHLO/HELO, AUTH PLAIN/LOGIN, MAIL FROM,
//! RCPT TO, DATA with dot-stuffing, RSET, NOOP, QUIT) that parses each message enough to
//! validate it (From, To, Subject, Date and Message-ID present; a multipart/alternative
//! message has a text/plain and a text/html part) and keeps it per recipient. Failure rules
//! answer at RCPT TO with 4xx/5xx replies, delays or a dropped connection.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::faults::{Fault, Faults};
use super::inbox::{Accepted, Inbox};

/// Longest command line, as RFC 5321 allows with extensions.
const MAX_LINE: usize = 4096;
/// Largest message accepted (advertised as SIZE).
const MAX_MESSAGE: usize = 10 * 1024 * 1024;
/// An idle client is hung up on after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// The name the simulator greets with.
const HOSTNAME: &str = "smtp.sim.bilet";

/// The SMTP simulator's state.
pub struct SmtpSimulator {
    inbox: Arc<Inbox>,
    faults: Arc<Faults>,
}

impl SmtpSimulator {
    /// A server that records into `inbox` and applies `faults`.
    pub fn new(inbox: Arc<Inbox>, faults: Arc<Faults>) -> Self {
        Self { inbox, faults }
    }

    /// Serves SMTP on `listener` until `shutdown`.
    pub fn spawn(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
        tracker: &TaskTracker,
    ) -> std::io::Result<SocketAddr> {
        let addr = listener.local_addr()?;
        let this = Arc::new(self);
        let sessions = tracker.clone();
        tracker.spawn(async move {
            loop {
                let stream = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => stream,
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                    () = shutdown.cancelled() => break,
                };
                let _ = stream.set_nodelay(true);
                this.inbox.connection_opened();
                let this = this.clone();
                let shutdown = shutdown.clone();
                sessions.spawn(async move {
                    tokio::select! {
                        _ = this.session(stream) => {}
                        () = shutdown.cancelled() => {}
                    }
                });
            }
        });
        Ok(addr)
    }

    async fn session(&self, stream: TcpStream) -> std::io::Result<()> {
        let (read, mut write) = stream.into_split();
        let mut reader = BufReader::new(read);
        write
            .write_all(format!("220 {HOSTNAME} ESMTP bilet simulator\r\n").as_bytes())
            .await?;
        let mut greeted = false;
        let mut sender: Option<String> = None;
        let mut recipients: Vec<String> = Vec::new();
        loop {
            let Some(line) = read_line(&mut reader).await? else {
                return Ok(());
            };
            let (verb, rest) = match line.split_once(' ') {
                Some((verb, rest)) => (verb.to_ascii_uppercase(), rest.trim()),
                None => (line.to_ascii_uppercase(), ""),
            };
            let reply: String = match verb.as_str() {
                "EHLO" if !rest.is_empty() => {
                    greeted = true;
                    (sender, recipients) = (None, Vec::new());
                    format!(
                        "250-{HOSTNAME}\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n\
                         250-SIZE {MAX_MESSAGE}\r\n250 AUTH PLAIN LOGIN\r\n"
                    )
                }
                "HELO" if !rest.is_empty() => {
                    greeted = true;
                    (sender, recipients) = (None, Vec::new());
                    format!("250 {HOSTNAME}\r\n")
                }
                "EHLO" | "HELO" => "501 5.5.4 Syntax: EHLO hostname\r\n".into(),
                "AUTH" => auth(rest, &mut reader, &mut write).await?,
                "MAIL" if !greeted => "503 5.5.1 Error: send HELO/EHLO first\r\n".into(),
                "MAIL" => match path_argument(rest, "FROM:") {
                    Some(from) => {
                        sender = Some(from);
                        recipients.clear();
                        "250 2.1.0 Ok\r\n".into()
                    }
                    None => "501 5.5.4 Syntax: MAIL FROM:<address>\r\n".into(),
                },
                "RCPT" if sender.is_none() => "503 5.5.1 Error: need MAIL command\r\n".into(),
                "RCPT" => match path_argument(rest, "TO:") {
                    Some(to) if to.contains('@') => match self.faults.check(&to) {
                        None => {
                            recipients.push(to);
                            "250 2.1.5 Ok\r\n".into()
                        }
                        Some(Fault::Slow(delay)) => {
                            tokio::time::sleep(delay).await;
                            recipients.push(to);
                            "250 2.1.5 Ok\r\n".into()
                        }
                        Some(Fault::Drop) => {
                            self.inbox.dropped();
                            return Ok(());
                        }
                        Some(fault) => {
                            self.inbox.rejected();
                            let (reply, close) = fault_reply(&fault);
                            write.write_all(reply.as_bytes()).await?;
                            if close {
                                return Ok(());
                            }
                            continue;
                        }
                    },
                    _ => "501 5.1.3 Bad recipient address syntax\r\n".into(),
                },
                "DATA" if recipients.is_empty() => "503 5.5.1 Error: need RCPT command\r\n".into(),
                "DATA" => {
                    write
                        .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                        .await?;
                    let Some(data) = read_data(&mut reader).await? else {
                        write.write_all(b"552 5.3.4 Message too big\r\n").await?;
                        return Ok(());
                    };
                    let reply = match parse_message(&data) {
                        Ok(parsed) => {
                            let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_uppercase();
                            for to in &recipients {
                                self.inbox.accept(Accepted {
                                    id: id.clone(),
                                    to: to.clone(),
                                    received_at: chrono::Utc::now(),
                                    headers: parsed.headers.clone(),
                                    body: json!({
                                        "mail_from": sender,
                                        "text": parsed.text,
                                        "html": parsed.html,
                                        "size": data.len(),
                                    }),
                                });
                            }
                            format!("250 2.0.0 Ok: queued as {id}\r\n")
                        }
                        Err(why) => {
                            self.inbox.rejected();
                            format!("554 5.6.0 Message malformed: {why}\r\n")
                        }
                    };
                    (sender, recipients) = (None, Vec::new());
                    self.faults.answer_delay().await;
                    reply
                }
                "RSET" => {
                    (sender, recipients) = (None, Vec::new());
                    "250 2.0.0 Ok\r\n".into()
                }
                "NOOP" => "250 2.0.0 Ok\r\n".into(),
                "QUIT" => {
                    write.write_all(b"221 2.0.0 Bye\r\n").await?;
                    return Ok(());
                }
                "STARTTLS" => "454 4.7.0 TLS not available in the simulator\r\n".into(),
                _ => "502 5.5.2 Error: command not recognized\r\n".into(),
            };
            write.write_all(reply.as_bytes()).await?;
        }
    }
}

/// The reply a fault gives at RCPT TO, and whether the server then hangs up.
fn fault_reply(fault: &Fault) -> (String, bool) {
    match fault {
        Fault::TempFail | Fault::ServerError => (
            "451 4.3.0 Temporary failure, try again later\r\n".into(),
            false,
        ),
        Fault::RateLimited(_) => (
            "450 4.7.1 Rate limit exceeded, try again later\r\n".into(),
            false,
        ),
        Fault::Unavailable(_) => (
            "421 4.3.2 Service not available, closing channel\r\n".into(),
            true,
        ),
        Fault::ExpiredAuth => ("530 5.7.0 Authentication required\r\n".into(), false),
        Fault::Unregistered | Fault::BadToken | Fault::Reject => {
            ("550 5.1.1 Recipient address rejected\r\n".into(), false)
        }
        Fault::Status(code) => (format!("{code} Injected reply\r\n"), *code == 421),
        Fault::Slow(_) | Fault::Drop => ("250 2.1.5 Ok\r\n".into(), false),
    }
}

async fn auth(
    rest: &str,
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    write: &mut tokio::net::tcp::OwnedWriteHalf,
) -> std::io::Result<String> {
    let mut parts = rest.split_whitespace();
    let mechanism = parts.next().unwrap_or_default().to_ascii_uppercase();
    match mechanism.as_str() {
        "PLAIN" => {
            let initial = match parts.next() {
                Some(initial) => initial.to_owned(),
                None => {
                    write.write_all(b"334 \r\n").await?;
                    read_line(reader).await?.unwrap_or_default()
                }
            };
            Ok(match STANDARD.decode(initial.trim()) {
                Ok(decoded) if decoded.split(|b| *b == 0).count() == 3 => {
                    "235 2.7.0 Authentication successful\r\n".into()
                }
                _ => "535 5.7.8 Authentication credentials invalid\r\n".into(),
            })
        }
        "LOGIN" => {
            write.write_all(b"334 VXNlcm5hbWU6\r\n").await?;
            let user = read_line(reader).await?.unwrap_or_default();
            write.write_all(b"334 UGFzc3dvcmQ6\r\n").await?;
            let password = read_line(reader).await?.unwrap_or_default();
            let valid =
                STANDARD.decode(user.trim()).is_ok() && STANDARD.decode(password.trim()).is_ok();
            Ok(if valid {
                "235 2.7.0 Authentication successful\r\n".into()
            } else {
                "535 5.7.8 Authentication credentials invalid\r\n".into()
            })
        }
        _ => Ok("504 5.5.4 Unrecognized authentication type\r\n".into()),
    }
}

/// One command line without its CRLF; `None` at end of stream or after the idle timeout.
async fn read_line<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
) -> std::io::Result<Option<String>> {
    let mut buffer = Vec::new();
    let read = tokio::time::timeout(IDLE_TIMEOUT, async {
        let mut limited = tokio::io::AsyncReadExt::take(&mut *reader, MAX_LINE as u64);
        limited.read_until(b'\n', &mut buffer).await
    })
    .await;
    match read {
        Ok(Ok(0)) | Err(_) => Ok(None),
        Ok(Ok(_)) => Ok(Some(
            String::from_utf8_lossy(&buffer)
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
        )),
        Ok(Err(err)) => Err(err),
    }
}

/// The DATA section up to the lone dot, un-dot-stuffed; `None` when over the size limit or
/// the connection ends first.
async fn read_data<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut data = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = tokio::time::timeout(IDLE_TIMEOUT, reader.read_until(b'\n', &mut line))
            .await
            .unwrap_or(Ok(0))?;
        if n == 0 {
            return Ok(None);
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok(Some(data));
        }
        let line = if line.starts_with(b"..") {
            &line[1..]
        } else {
            &line[..]
        };
        data.extend_from_slice(line);
        if data.len() > MAX_MESSAGE {
            return Ok(None);
        }
    }
}

/// `FROM:<a@b> SIZE=…` → `a@b`.
fn path_argument(rest: &str, keyword: &str) -> Option<String> {
    let rest = rest.trim_start();
    if rest.len() < keyword.len() || !rest[..keyword.len()].eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = rest[keyword.len()..].trim_start();
    let inner = rest.strip_prefix('<')?;
    let end = inner.find('>')?;
    Some(inner[..end].to_owned())
}

/// What the simulator keeps of a message.
#[derive(Debug)]
pub struct ParsedMessage {
    /// Lower-case header names, values decoded (RFC 2047).
    pub headers: BTreeMap<String, String>,
    pub text: Option<String>,
    pub html: Option<String>,
}

/// Parses and validates a message as a receiving server would.
pub fn parse_message(raw: &[u8]) -> Result<ParsedMessage, String> {
    let raw = String::from_utf8_lossy(raw).replace("\r\n", "\n");
    let (head, body) = split_head(&raw);
    let headers = parse_headers(head);
    for required in ["from", "to", "subject", "date", "message-id"] {
        if !headers.contains_key(required) {
            return Err(format!("no {required} header"));
        }
    }
    let content_type = headers
        .get("content-type")
        .cloned()
        .unwrap_or_else(|| "text/plain".into());
    let encoding = headers.get("content-transfer-encoding").cloned();
    let (mut text, mut html) = (None, None);
    if content_type.to_ascii_lowercase().starts_with("multipart/") {
        let boundary = parameter(&content_type, "boundary").ok_or("multipart without boundary")?;
        let parts = split_multipart(body, &boundary).ok_or("multipart not closed")?;
        for part in parts {
            let (part_head, part_body) = split_head(part);
            let part_headers = parse_headers(part_head);
            let part_type = part_headers
                .get("content-type")
                .cloned()
                .unwrap_or_else(|| "text/plain".into())
                .to_ascii_lowercase();
            let decoded = decode_body(
                part_body,
                part_headers
                    .get("content-transfer-encoding")
                    .map(String::as_str),
            )?;
            if part_type.starts_with("text/plain") {
                text = Some(decoded);
            } else if part_type.starts_with("text/html") {
                html = Some(decoded);
            }
        }
        if content_type
            .to_ascii_lowercase()
            .starts_with("multipart/alternative")
            && (text.is_none() || html.is_none())
        {
            return Err("multipart/alternative without both text/plain and text/html".into());
        }
    } else {
        let decoded = decode_body(body, encoding.as_deref())?;
        if content_type.to_ascii_lowercase().starts_with("text/html") {
            html = Some(decoded);
        } else {
            text = Some(decoded);
        }
    }
    Ok(ParsedMessage {
        headers,
        text,
        html,
    })
}

fn split_head(message: &str) -> (&str, &str) {
    match message.find("\n\n") {
        Some(index) => (&message[..index], &message[index + 2..]),
        None => (message, ""),
    }
}

fn parse_headers(head: &str) -> BTreeMap<String, String> {
    let mut headers = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = &mut current {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some((name, value)) = current.take() {
            headers.entry(name).or_insert_with(|| decode_words(&value));
        }
        if let Some((name, value)) = line.split_once(':') {
            current = Some((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    if let Some((name, value)) = current {
        headers.entry(name).or_insert_with(|| decode_words(&value));
    }
    headers
}

/// A `name=value` parameter of a structured header, quotes removed.
fn parameter(header: &str, name: &str) -> Option<String> {
    header.split(';').skip(1).find_map(|param| {
        let (key, value) = param.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().trim_matches('"').to_owned())
    })
}

fn split_multipart<'a>(body: &'a str, boundary: &str) -> Option<Vec<&'a str>> {
    let delimiter = format!("--{boundary}");
    let closing = format!("--{boundary}--");
    let end = body.find(&closing)?;
    let parts = body[..end]
        .split(&delimiter)
        .skip(1)
        .map(|part| part.trim_start_matches('\n'))
        .collect();
    Some(parts)
}

fn decode_body(body: &str, encoding: Option<&str>) -> Result<String, String> {
    match encoding.map(|e| e.trim().to_ascii_lowercase()).as_deref() {
        Some("base64") => {
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            let bytes = STANDARD.decode(compact).map_err(|_| "bad base64 body")?;
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        }
        Some("quoted-printable") => {
            Ok(String::from_utf8_lossy(&decode_quoted_printable(body)).into_owned())
        }
        None | Some("7bit" | "8bit" | "binary") => Ok(body.trim_end_matches('\n').to_owned()),
        Some(other) => Err(format!("unknown transfer encoding {other}")),
    }
}

fn decode_quoted_printable(body: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let bytes = body.trim_end_matches('\n').as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'=' if bytes.get(i + 1) == Some(&b'\n') => i += 2,
            b'=' => match bytes.get(i + 1..i + 3) {
                Some([high, low]) if high.is_ascii_hexdigit() && low.is_ascii_hexdigit() => {
                    let hex = [*high, *low];
                    let text = std::str::from_utf8(&hex).unwrap_or("00");
                    out.push(u8::from_str_radix(text, 16).unwrap_or(b'?'));
                    i += 3;
                }
                _ => {
                    out.push(b'=');
                    i += 1;
                }
            },
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

/// Decodes RFC 2047 encoded words (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`).
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut last_was_word = false;
    while let Some(start) = rest.find("=?") {
        let before = &rest[..start];
        let Some(word) = encoded_word(&rest[start..]) else {
            out.push_str(&rest[..start + 2]);
            rest = &rest[start + 2..];
            last_was_word = false;
            continue;
        };
        // Whitespace between two encoded words is not part of the text.
        if !(last_was_word && before.trim().is_empty()) {
            out.push_str(before);
        }
        out.push_str(&word.0);
        rest = &rest[start + word.1..];
        last_was_word = true;
    }
    out.push_str(rest);
    out
}

/// One encoded word at the start of `text`: its decoded text and its length.
fn encoded_word(text: &str) -> Option<(String, usize)> {
    let inner = text.strip_prefix("=?")?;
    let (_charset, rest) = inner.split_once('?')?;
    let (encoding, rest) = rest.split_once('?')?;
    let end = rest.find("?=")?;
    let payload = &rest[..end];
    let bytes = match encoding.to_ascii_lowercase().as_str() {
        "b" => STANDARD.decode(payload).ok()?,
        "q" => decode_quoted_printable(&payload.replace('_', " ")),
        _ => return None,
    };
    let length = 2 + (rest.as_ptr() as usize - inner.as_ptr() as usize) + end + 2;
    Some((String::from_utf8_lossy(&bytes).into_owned(), length))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multipart_message_is_parsed_and_decoded() {
        let raw = "From: =?utf-8?b?0JHQuNC70LXRgg==?= <noreply@bilet.test>\r\n\
                   To: parent@example.org\r\nSubject: =?utf-8?q?=D0=9F=D1=80=D0=B8?=\r\n\
                   Date: Tue, 1 Jul 2025 10:00:00 +0000\r\nMessage-ID: <1@bilet.test>\r\n\
                   Content-Type: multipart/alternative; boundary=\"XX\"\r\n\r\n\
                   --XX\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n\
                   0J/RgNC40LLQtdGC\r\n--XX\r\nContent-Type: text/html; charset=utf-8\r\n\
                   Content-Transfer-Encoding: quoted-printable\r\n\r\n<p>=D0=9F=\r\n</p>\r\n--XX--\r\n";
        let parsed = parse_message(raw.as_bytes()).unwrap();
        assert_eq!(parsed.headers["subject"], "При");
        assert_eq!(parsed.headers["from"], "Билет <noreply@bilet.test>");
        assert_eq!(parsed.text.as_deref(), Some("Привет"));
        assert_eq!(parsed.html.as_deref(), Some("<p>П</p>"));
    }

    #[test]
    fn a_message_without_required_headers_or_parts_is_refused() {
        assert!(parse_message(b"Subject: x\r\n\r\nbody").is_err());
        let no_html = "From: a@b\r\nTo: c@d\r\nSubject: s\r\nDate: d\r\nMessage-ID: <m>\r\n\
                       Content-Type: multipart/alternative; boundary=B\r\n\r\n--B\r\n\r\ntext\r\n--B--\r\n";
        assert!(parse_message(no_html.as_bytes()).is_err());
        assert!(parse_message(b"").is_err());
    }

    #[test]
    fn mail_paths_are_read_from_commands() {
        assert_eq!(
            path_argument("FROM:<a@b.c> BODY=8BITMIME", "FROM:").as_deref(),
            Some("a@b.c")
        );
        assert_eq!(path_argument("to: <x@y>", "TO:").as_deref(), Some("x@y"));
        assert_eq!(path_argument("TO:x@y", "TO:"), None);
    }
}
