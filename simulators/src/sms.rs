//! The SMS gateway simulator, SMS.ru-style: `POST /sms/send` with `api_id`, `to` (one or
//! more numbers, comma-separated), `msg` and `json=1`; answers a status and, per number, a
//! status code, an SMS id, the segment count and the cost.

use std::collections::BTreeMap;
use std::sync::Arc;

use hyper::Method;
use serde_json::{Value, json};

use super::faults::{Fault, Faults};
use super::inbox::{Accepted, Inbox};
use super::server::{Handler, Reply, SimRequest, form_pairs};

/// What one segment costs in the simulator, in roubles.
const SEGMENT_PRICE: f64 = 3.5;
/// The gateway refuses texts longer than this many segments.
const MAX_SEGMENTS: usize = 8;

/// The SMS gateway simulator's state.
pub struct SmsSimulator {
    inbox: Arc<Inbox>,
    faults: Arc<Faults>,
    api_id: String,
}

impl SmsSimulator {
    /// A gateway that accepts `api_id`.
    pub fn new(inbox: Arc<Inbox>, faults: Arc<Faults>, api_id: String) -> Self {
        Self {
            inbox,
            faults,
            api_id,
        }
    }

    /// The request handler for [`super::server::spawn`].
    pub fn handler(self) -> Handler {
        let this = Arc::new(self);
        Arc::new(move |request| {
            let this = this.clone();
            Box::pin(async move { this.handle(request).await })
        })
    }

    async fn handle(&self, request: SimRequest) -> Reply {
        if let Some(reply) = self.inbox.inspect(&request) {
            return reply;
        }
        self.faults.answer_delay().await;
        let reply = self.respond(request).await;
        super::fcm::count(&self.inbox, &reply);
        reply
    }

    async fn respond(&self, request: SimRequest) -> Reply {
        if request.path != "/sms/send" {
            return error(211, "Метод не найден");
        }
        if request.method != Method::POST {
            return error(210, "Используется GET, где необходимо использовать POST");
        }
        let form: BTreeMap<String, String> = form_pairs(&request.body).into_iter().collect();
        if form.get("json").map(String::as_str) != Some("1") {
            return Reply::text(200, "211\njson=1 is required by this simulator");
        }
        if form.get("api_id") != Some(&self.api_id) {
            return error(200, "Неправильный api_id");
        }
        let msg = form.get("msg").map(String::as_str).unwrap_or_default();
        if msg.trim().is_empty() {
            return error(203, "Нет текста сообщения");
        }
        let (encoding, segments) = segments(msg);
        if segments > MAX_SEGMENTS {
            return error(205, "Сообщение слишком длинное (превышает 8 СМС)");
        }
        let numbers: Vec<&str> = form
            .get("to")
            .map(|to| {
                to.split(',')
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if numbers.is_empty() || numbers.len() > 100 {
            return error(213, "Указано неверное количество номеров");
        }
        let mut per_number = serde_json::Map::new();
        let mut total_cost = 0.0;
        for number in numbers {
            let phone = format!("+{number}");
            let status = if number.len() < 10 || !number.chars().all(|c| c.is_ascii_digit()) {
                Err(202)
            } else {
                match self.faults.check(&phone) {
                    None => Ok(()),
                    Some(Fault::Slow(delay)) => {
                        tokio::time::sleep(delay).await;
                        Ok(())
                    }
                    Some(Fault::Drop) => return Reply::Drop,
                    Some(Fault::ServerError) => return Reply::text(500, "Internal Server Error"),
                    Some(Fault::RateLimited(after)) => {
                        return Reply::text(429, "Too Many Requests")
                            .with_header("retry-after", after.as_secs().to_string());
                    }
                    Some(Fault::Unavailable(after)) => {
                        return Reply::text(503, "Service Unavailable")
                            .with_header("retry-after", after.as_secs().to_string());
                    }
                    Some(Fault::TempFail) => Err(220),
                    Some(Fault::Unregistered | Fault::BadToken) => Err(202),
                    Some(Fault::Reject) => Err(207),
                    Some(Fault::ExpiredAuth) => Err(301),
                    Some(Fault::Status(code)) => Err(code),
                }
            };
            let entry = match status {
                Ok(()) => {
                    let id = format!("{:06}-{}", rand_digits(), uuid::Uuid::new_v4().simple());
                    let cost = SEGMENT_PRICE * segments as f64;
                    total_cost += cost;
                    self.inbox.accept(Accepted {
                        id: id.clone(),
                        to: phone,
                        received_at: chrono::Utc::now(),
                        headers: BTreeMap::new(),
                        body: json!({
                            "msg": msg,
                            "from": form.get("from"),
                            "encoding": encoding,
                            "segments": segments,
                            "cost": cost,
                        }),
                    });
                    json!({"status": "OK", "status_code": 100, "sms_id": id, "sms": segments, "cost": format!("{cost:.2}")})
                }
                Err(code) => {
                    json!({"status": "ERROR", "status_code": code, "status_text": status_text(code)})
                }
            };
            per_number.insert(number.to_owned(), entry);
        }
        Reply::json(
            200,
            &json!({"status": "OK", "status_code": 100, "sms": Value::Object(per_number), "balance": 10_000.0 - total_cost}),
        )
    }
}

fn rand_digits() -> u32 {
    uuid::Uuid::new_v4().as_u128() as u32 % 1_000_000
}

fn error(code: u16, text: &str) -> Reply {
    Reply::json(
        200,
        &json!({"status": "ERROR", "status_code": code, "status_text": text}),
    )
}

fn status_text(code: u16) -> &'static str {
    match code {
        201 => "Не хватает средств на лицевом счету",
        202 => "Неправильно указан номер телефона получателя, либо на него нет маршрута",
        206 => "Будет превышен или уже превышен дневной лимит на отправку сообщений",
        207 => "На этот номер нельзя отправлять сообщения",
        209 => "Номер добавлен в стоп-лист",
        220 => "Сервис временно недоступен, попробуйте чуть позже",
        230 => "Превышен общий лимит количества сообщений на этот номер в день",
        231 => "Превышен лимит одинаковых сообщений на этот номер в минуту",
        301 => "Неправильный api_id, либо логин/пароль",
        _ => "Ошибка",
    }
}

/// The encoding and segment count of a text, counted independently of the client: GSM-7
/// when every character is printable ASCII or a newline (a subset of the GSM alphabet,
/// enough to catch a client that mislabels Cyrillic), UCS-2 otherwise.
fn segments(text: &str) -> (&'static str, usize) {
    let gsm = text.chars().all(|c| c == '\n' || (' '..='~').contains(&c));
    let (units, single, part) = if gsm {
        let escaped = text.chars().filter(|c| "^{}\\[]~|".contains(*c)).count();
        (text.chars().count() + escaped, 160, 153)
    } else {
        (text.encode_utf16().count(), 70, 67)
    };
    let count = if units <= single {
        1
    } else {
        units.div_ceil(part)
    };
    (if gsm { "gsm7" } else { "ucs2" }, count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_counted_by_encoding() {
        assert_eq!(segments(&"a".repeat(160)), ("gsm7", 1));
        assert_eq!(segments(&"a".repeat(161)), ("gsm7", 2));
        assert_eq!(segments(&"ж".repeat(70)), ("ucs2", 1));
        assert_eq!(segments(&"ж".repeat(135)), ("ucs2", 3));
    }
}
