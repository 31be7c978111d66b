//! The console's words in Russian (the default) and English, chosen by `?lang=` or the
//! language cookie. Each page's template reads them as fields, so a missing word does not
//! compile.

/// A language of the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ru,
    En,
}

impl Lang {
    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "ru" => Some(Lang::Ru),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Ru => "ru",
            Lang::En => "en",
        }
    }

    pub fn words(self) -> &'static Words {
        match self {
            Lang::Ru => &RU,
            Lang::En => &EN,
        }
    }
}

/// Every word the console shows.
#[derive(Debug)]
pub struct Words {
    /// The language's code, as in `lang="…"`.
    pub code: &'static str,
    pub console: &'static str,
    pub skip: &'static str,
    pub sections: &'static str,
    pub other_language: &'static str,
    pub other_language_code: &'static str,
    pub events: &'static str,
    pub history: &'static str,
    pub signed_in_as: &'static str,
    pub sign_in: &'static str,
    pub sign_in_title: &'static str,
    pub sign_out: &'static str,
    pub email: &'static str,
    pub password: &'static str,
    pub bad_credentials: &'static str,
    pub too_many_attempts: &'static str,
    pub seconds: &'static str,
    pub new_event: &'static str,
    pub no_events: &'static str,
    pub title: &'static str,
    pub status: &'static str,
    pub starts: &'static str,
    pub seats: &'static str,
    pub seats_taken_free: &'static str,
    pub signups: &'static str,
    pub pending_parent: &'static str,
    pub approved: &'static str,
    pub waitlisted: &'static str,
    pub draft: &'static str,
    pub published: &'static str,
    pub cancelled: &'static str,
    pub description: &'static str,
    pub profession_area: &'static str,
    pub format: &'static str,
    pub in_person: &'static str,
    pub online: &'static str,
    pub region: &'static str,
    pub city: &'static str,
    pub address: &'static str,
    pub place_hint: &'static str,
    pub grade_min: &'static str,
    pub grade_max: &'static str,
    pub capacity: &'static str,
    pub ends: &'static str,
    pub signup_deadline: &'static str,
    pub time_zone: &'static str,
    pub times_hint: &'static str,
    pub accessibility: &'static str,
    pub approval_window_hours: &'static str,
    pub create_draft: &'static str,
    pub save: &'static str,
    pub edit: &'static str,
    pub edit_event: &'static str,
    pub publish: &'static str,
    pub roster: &'static str,
    pub cancel_event: &'static str,
    pub reschedule: &'static str,
    pub back_to_events: &'static str,
    pub back_to_event: &'static str,
    pub fix_fields: &'static str,
    pub announcements: &'static str,
    pub no_announcements: &'static str,
    pub cancel_reason: &'static str,
    pub given_name: &'static str,
    pub surname_initial: &'static str,
    pub grade: &'static str,
    pub needs: &'static str,
    pub roster_empty: &'static str,
    pub roster_note: &'static str,
    pub waitlist: &'static str,
    pub show_preview: &'static str,
    pub preview_of_cancel: &'static str,
    pub preview_of_reschedule: &'static str,
    pub who_is_told: &'static str,
    pub students: &'static str,
    pub parents: &'static str,
    pub by_push: &'static str,
    pub by_sms: &'static str,
    pub by_email: &'static str,
    pub later: &'static str,
    pub unreachable: &'static str,
    pub urgent_yes: &'static str,
    pub urgent_no: &'static str,
    pub texts: &'static str,
    pub to_students: &'static str,
    pub to_parents: &'static str,
    pub language: &'static str,
    pub recipients: &'static str,
    pub sms_as_sent: &'static str,
    pub sms_segments: &'static str,
    pub confirm_cancel: &'static str,
    pub confirm_reschedule: &'static str,
    pub change_it: &'static str,
    pub nobody_signed_up: &'static str,
    pub new_starts: &'static str,
    pub new_ends: &'static str,
    pub new_deadline: &'static str,
    pub progress: &'static str,
    pub channel: &'static str,
    pub queued: &'static str,
    pub sending: &'static str,
    pub delivered: &'static str,
    pub failed: &'static str,
    pub dead: &'static str,
    pub total: &'static str,
    pub all_out: &'static str,
    pub in_progress: &'static str,
    pub preparing: &'static str,
    pub refresh: &'static str,
    pub report: &'static str,
    pub open_report: &'static str,
    pub failures_by_reason: &'static str,
    pub reason: &'static str,
    pub count: &'static str,
    pub no_failures: &'static str,
    pub no_reason: &'static str,
    pub history_title: &'static str,
    pub when: &'static str,
    pub what: &'static str,
    pub event: &'static str,
    pub kind_event_cancelled: &'static str,
    pub kind_event_rescheduled: &'static str,
    pub kind_organizer_notice: &'static str,
    pub not_found: &'static str,
    pub not_found_text: &'static str,
    pub forbidden: &'static str,
    pub forbidden_text: &'static str,
    pub staff_only: &'static str,
    pub form_expired: &'static str,
    pub cannot_do: &'static str,
    pub went_wrong: &'static str,
    pub went_wrong_text: &'static str,
    pub details: &'static str,
    pub enter_date_time: &'static str,
    pub enter_number: &'static str,
    pub send_notice: &'static str,
    pub notice_text: &'static str,
    pub chars: &'static str,
    pub push_bytes: &'static str,
    pub preview_of_notice: &'static str,
    pub confirm_notice: &'static str,
    pub dead_letters: &'static str,
    pub no_dead_letters: &'static str,
    pub attempts: &'static str,
    pub replay: &'static str,
}

pub static RU: Words = Words {
    code: "ru",
    console: "Консоль организатора",
    skip: "Перейти к содержимому",
    sections: "Разделы",
    other_language: "English",
    other_language_code: "en",
    events: "Пробы",
    history: "История",
    signed_in_as: "Вы вошли как",
    sign_in: "Войти",
    sign_in_title: "Вход для организаторов",
    sign_out: "Выйти",
    email: "Электронная почта",
    password: "Пароль",
    bad_credentials: "Неверная почта или пароль.",
    too_many_attempts: "Слишком много попыток. Повторите через",
    seconds: "с",
    new_event: "Новая проба",
    no_events: "Проб пока нет.",
    title: "Название",
    status: "Статус",
    starts: "Начало",
    seats: "Места",
    seats_taken_free: "занято / свободно",
    signups: "Записи",
    pending_parent: "Ждут родителя",
    approved: "Одобрены",
    waitlisted: "В листе ожидания",
    draft: "Черновик",
    published: "Опубликована",
    cancelled: "Отменена",
    description: "Описание",
    profession_area: "Профессиональная область",
    format: "Формат",
    in_person: "Очно",
    online: "Онлайн",
    region: "Регион",
    city: "Город",
    address: "Адрес",
    place_hint: "Для очной пробы обязательны регион, город и адрес.",
    grade_min: "С класса",
    grade_max: "По класс",
    capacity: "Мест",
    ends: "Окончание",
    signup_deadline: "Запись до",
    time_zone: "Часовой пояс",
    times_hint: "Время местное, в выбранном часовом поясе.",
    accessibility: "Доступность",
    approval_window_hours: "Часов на согласие родителя (1–168)",
    create_draft: "Создать черновик",
    save: "Сохранить",
    edit: "Изменить",
    edit_event: "Изменить пробу",
    publish: "Опубликовать",
    roster: "Участники",
    cancel_event: "Отменить пробу",
    reschedule: "Перенести",
    back_to_events: "Все пробы",
    back_to_event: "К пробе",
    fix_fields: "Исправьте отмеченные поля.",
    announcements: "Оповещения",
    no_announcements: "Оповещений ещё не было.",
    cancel_reason: "Причина отмены (её увидят семьи, 3–500 символов)",
    given_name: "Имя",
    surname_initial: "Фамилия",
    grade: "Класс",
    needs: "Особые потребности",
    roster_empty: "Пока никто не записался.",
    roster_note: "Только имя, первая буква фамилии, класс и статус записи: контакты и документы здесь не показываются.",
    waitlist: "Лист ожидания",
    show_preview: "Показать, кто и что получит",
    preview_of_cancel: "Отмена: проверьте перед отправкой",
    preview_of_reschedule: "Перенос: проверьте перед отправкой",
    who_is_told: "Кто получит",
    students: "Учеников",
    parents: "Родителей",
    by_push: "Push",
    by_sms: "SMS",
    by_email: "Письма",
    later: "Позже, если не прочтут",
    unreachable: "Недоступны ни по одному каналу",
    urgent_yes: "Срочно: до начала меньше 48 часов, сообщения уйдут сразу по всем каналам, без учёта тихих часов.",
    urgent_no: "Не срочно: по обычным правилам, с учётом тихих часов.",
    texts: "Тексты сообщений",
    to_students: "Ученикам",
    to_parents: "Родителям",
    language: "Язык",
    recipients: "получателей",
    sms_as_sent: "SMS в том виде, как уйдёт",
    sms_segments: "сегментов SMS",
    confirm_cancel: "Подтвердить отмену и оповестить",
    confirm_reschedule: "Подтвердить перенос и оповестить",
    change_it: "Изменить",
    nobody_signed_up: "Сейчас никто не записан: сообщений не будет.",
    new_starts: "Новое начало",
    new_ends: "Новое окончание",
    new_deadline: "Запись до (если не указать — прежний срок, но не позже начала)",
    progress: "Ход рассылки",
    channel: "Канал",
    queued: "В очереди",
    sending: "Отправляются",
    delivered: "Доставлены",
    failed: "Не доставлены",
    dead: "Отказ",
    total: "Всего",
    all_out: "Все сообщения отправлены.",
    in_progress: "Идёт рассылка…",
    preparing: "Готовим сообщения…",
    refresh: "Обновить",
    report: "Отчёт о доставке",
    open_report: "Открыть отчёт",
    failures_by_reason: "Сбои по причинам",
    reason: "Причина",
    count: "Сколько",
    no_failures: "Сбоев нет.",
    no_reason: "без причины",
    history_title: "История оповещений",
    when: "Когда",
    what: "Что",
    event: "Проба",
    kind_event_cancelled: "Отмена",
    kind_event_rescheduled: "Перенос",
    kind_organizer_notice: "Сообщение",
    not_found: "Не найдено",
    not_found_text: "Такой страницы нет, или она вам недоступна.",
    forbidden: "Нет доступа",
    forbidden_text: "Это действие вам недоступно.",
    staff_only: "Консоль только для организаторов; администраторам доступна консоль администратора.",
    form_expired: "Форма устарела или отправлена не с этой страницы. Откройте страницу заново и повторите.",
    cannot_do: "Так нельзя",
    went_wrong: "Что-то пошло не так",
    went_wrong_text: "Попробуйте ещё раз через минуту.",
    details: "Подробности",
    enter_date_time: "укажите дату и время",
    enter_number: "укажите число",
    send_notice: "Написать участникам",
    notice_text: "Текст сообщения (1–1000 символов; его увидят ученики и родители)",
    chars: "символов",
    push_bytes: "байт в push (предел",
    preview_of_notice: "Сообщение: проверьте перед отправкой",
    confirm_notice: "Отправить сообщение",
    dead_letters: "Недоставленные сообщения",
    no_dead_letters: "Недоставленных сообщений нет.",
    attempts: "Попыток",
    replay: "Отправить снова",
};

pub static EN: Words = Words {
    code: "en",
    console: "Organizer console",
    skip: "Skip to content",
    sections: "Sections",
    other_language: "Русский",
    other_language_code: "ru",
    events: "Events",
    history: "History",
    signed_in_as: "Signed in as",
    sign_in: "Sign in",
    sign_in_title: "Sign in for organizers",
    sign_out: "Sign out",
    email: "E-mail",
    password: "Password",
    bad_credentials: "Wrong e-mail or password.",
    too_many_attempts: "Too many attempts. Try again in",
    seconds: "s",
    new_event: "New event",
    no_events: "No events yet.",
    title: "Title",
    status: "Status",
    starts: "Starts",
    seats: "Seats",
    seats_taken_free: "taken / free",
    signups: "Sign-ups",
    pending_parent: "Pending parent",
    approved: "Approved",
    waitlisted: "Waitlisted",
    draft: "Draft",
    published: "Published",
    cancelled: "Cancelled",
    description: "Description",
    profession_area: "Profession area",
    format: "Format",
    in_person: "In person",
    online: "Online",
    region: "Region",
    city: "City",
    address: "Address",
    place_hint: "An event in person needs a region, a city and an address.",
    grade_min: "From grade",
    grade_max: "To grade",
    capacity: "Seats",
    ends: "Ends",
    signup_deadline: "Sign-ups close",
    time_zone: "Time zone",
    times_hint: "Local times, in the chosen time zone.",
    accessibility: "Accessibility",
    approval_window_hours: "Hours parents have to approve (1–168)",
    create_draft: "Create draft",
    save: "Save",
    edit: "Edit",
    edit_event: "Edit event",
    publish: "Publish",
    roster: "Roster",
    cancel_event: "Cancel event",
    reschedule: "Reschedule",
    back_to_events: "All events",
    back_to_event: "Back to the event",
    fix_fields: "Fix the marked fields.",
    announcements: "Announcements",
    no_announcements: "Nothing announced yet.",
    cancel_reason: "Reason (families will see it; 3–500 characters)",
    given_name: "Given name",
    surname_initial: "Surname",
    grade: "Grade",
    needs: "Accessibility needs",
    roster_empty: "Nobody has signed up yet.",
    roster_note: "Only the given name, the surname's initial, the grade and the sign-up state: no contacts, no documents.",
    waitlist: "Waitlist",
    show_preview: "Show who gets what",
    preview_of_cancel: "Cancellation: check before sending",
    preview_of_reschedule: "Move: check before sending",
    who_is_told: "Who is told",
    students: "Students",
    parents: "Parents",
    by_push: "Push",
    by_sms: "SMS",
    by_email: "E-mails",
    later: "Later, if unseen",
    unreachable: "Reachable by no channel",
    urgent_yes: "Urgent: less than 48 hours to the start, so every channel at once, quiet hours ignored.",
    urgent_no: "Not urgent: the usual rules, quiet hours respected.",
    texts: "The texts",
    to_students: "To students",
    to_parents: "To parents",
    language: "Language",
    recipients: "recipients",
    sms_as_sent: "The SMS as sent",
    sms_segments: "SMS segments",
    confirm_cancel: "Confirm the cancellation and tell everyone",
    confirm_reschedule: "Confirm the move and tell everyone",
    change_it: "Change",
    nobody_signed_up: "Nobody is signed up now: no messages will go out.",
    new_starts: "New start",
    new_ends: "New end",
    new_deadline: "Sign-ups close (empty: the old deadline, no later than the start)",
    progress: "Delivery progress",
    channel: "Channel",
    queued: "Queued",
    sending: "Sending",
    delivered: "Delivered",
    failed: "Failed",
    dead: "Dead",
    total: "Total",
    all_out: "Every message is out.",
    in_progress: "Sending…",
    preparing: "Preparing the messages…",
    refresh: "Refresh",
    report: "Delivery report",
    open_report: "Open the report",
    failures_by_reason: "Failures by reason",
    reason: "Reason",
    count: "Count",
    no_failures: "No failures.",
    no_reason: "no reason given",
    history_title: "Announcement history",
    when: "When",
    what: "What",
    event: "Event",
    kind_event_cancelled: "Cancellation",
    kind_event_rescheduled: "Move",
    kind_organizer_notice: "Notice",
    not_found: "Not found",
    not_found_text: "There is no such page, or it is not yours to see.",
    forbidden: "Forbidden",
    forbidden_text: "You may not do this.",
    staff_only: "This console is for organizers.",
    form_expired: "The form expired or was not sent from this page. Open the page again and retry.",
    cannot_do: "Cannot do that",
    went_wrong: "Something went wrong",
    went_wrong_text: "Try again in a minute.",
    details: "Details",
    enter_date_time: "enter a date and time",
    enter_number: "enter a number",
    send_notice: "Message the participants",
    notice_text: "The message (1–1000 characters; students and parents will read it)",
    chars: "characters",
    push_bytes: "push payload bytes (limit",
    preview_of_notice: "Notice: check before sending",
    confirm_notice: "Send the notice",
    dead_letters: "Dead letters",
    no_dead_letters: "No dead letters.",
    attempts: "Attempts",
    replay: "Replay",
};

impl Words {
    /// An event's or a sign-up's status.
    pub fn status(&self, status: &str) -> &'static str {
        match status {
            "draft" => self.draft,
            "published" => self.published,
            "cancelled" => self.cancelled,
            "pending_parent" => self.pending_parent,
            "approved" => self.approved,
            "waitlisted" => self.waitlisted,
            _ => "—",
        }
    }

    /// What an announcement was.
    pub fn kind(&self, kind: &str) -> &'static str {
        match kind {
            "event_cancelled" => self.kind_event_cancelled,
            "event_rescheduled" => self.kind_event_rescheduled,
            _ => self.kind_organizer_notice,
        }
    }

    /// A delivery channel by its ledger name.
    pub fn channel(&self, channel: &str) -> &'static str {
        match (channel, self.code) {
            ("apns", _) => "Push iOS (APNs)",
            ("fcm", _) => "Push Android (FCM)",
            ("rustore", _) => "Push RuStore",
            ("sms", _) => "SMS",
            ("email", "en") => "E-mail",
            ("email", _) => "Эл. почта",
            _ => "—",
        }
    }

    pub fn format_name(&self, format: &str) -> &'static str {
        if format == "online" {
            self.online
        } else {
            self.in_person
        }
    }

    /// A profession area by its code.
    pub fn area(&self, code: &str) -> &'static str {
        let en = self.code == "en";
        let (ru, english) = match code {
            "it" => ("Информационные технологии", "Information technology"),
            "engineering" => ("Инженерия", "Engineering"),
            "industry" => ("Промышленность", "Industry"),
            "medicine" => ("Медицина", "Medicine"),
            "science" => ("Наука", "Science"),
            "arts_design" => ("Искусство и дизайн", "Arts and design"),
            "services" => ("Сфера услуг", "Services"),
            "agriculture" => ("Сельское хозяйство", "Agriculture"),
            "transport" => ("Транспорт", "Transport"),
            "education" => ("Образование", "Education"),
            "construction" => ("Строительство", "Construction"),
            "energy" => ("Энергетика", "Energy"),
            "media" => ("Медиа", "Media"),
            "sports" => ("Спорт", "Sports"),
            "public_service" => ("Государственная служба", "Public service"),
            "finance" => ("Финансы", "Finance"),
            _ => ("—", "—"),
        };
        if en { english } else { ru }
    }

    /// An accessibility feature by its code.
    pub fn feature(&self, code: &str) -> &'static str {
        let en = self.code == "en";
        let (ru, english) = match code {
            "step_free" => ("Без ступеней", "Step-free access"),
            "visual" => (
                "Для незрячих и слабовидящих",
                "For blind and low-vision people",
            ),
            "hearing" => (
                "Для глухих и слабослышащих",
                "For deaf and hard-of-hearing people",
            ),
            "sign_language" => ("Перевод на жестовый язык", "Sign language"),
            "quiet_space" => ("Тихая комната", "Quiet space"),
            _ => ("—", "—"),
        };
        if en { english } else { ru }
    }

    /// A field's refusal as the rules word it (in English), in the console's language: the
    /// rules' own reasons, translated where known; anything else is shown as is.
    pub fn reason(&self, reason: &str) -> String {
        if self.code == "en" {
            return reason.to_owned();
        }
        let fixed = match reason {
            "is required" => Some("обязательное поле"),
            "is required for an event in person" => Some("обязательно для очной пробы"),
            "must be in the future" => Some("должно быть в будущем"),
            "must be within 3 years from now" => Some("не позже чем через 3 года"),
            "must be after starts_at" => Some("должно быть позже начала"),
            "an event lasts at most 14 days" => Some("проба длится не больше 14 дней"),
            "must not be after starts_at" => Some("не позже начала"),
            "must not be below grade_min" => Some("не меньше, чем «С класса»"),
            "must be a time zone of Russia, e.g. Europe/Moscow" => {
                Some("выберите часовой пояс России")
            }
            "contains control, invisible or text-direction characters" => {
                Some("содержит управляющие или невидимые символы")
            }
            _ => None,
        };
        if let Some(fixed) = fixed {
            return fixed.to_owned();
        }
        let number_after = |prefix: &str| {
            reason
                .strip_prefix(prefix)
                .map(|rest| rest.trim_end_matches(" characters").to_owned())
        };
        if let Some(n) = number_after("must be at least ") {
            return format!("не короче {n} символов");
        }
        if let Some(n) = number_after("is longer than ") {
            return format!("длиннее {n} символов");
        }
        if let Some(range) = reason.strip_prefix("must be from ") {
            return format!("от {}", range.replace(" to ", " до "));
        }
        if reason.starts_with("must be one of ") {
            return "выберите значение из списка".to_owned();
        }
        reason.to_owned()
    }

    /// What a refusal of the rules means, by its problem type; `None`: show its detail.
    pub fn problem(&self, slug: &str) -> Option<&'static str> {
        let en = self.code == "en";
        let (ru, english) = match slug {
            "event-cancelled" => (
                "Проба отменена: её нельзя изменить или опубликовать.",
                "The event is cancelled: it cannot change or be published.",
            ),
            "use-reschedule" => (
                "Время и место опубликованной пробы меняются через «Перенести», чтобы семьи узнали об этом.",
                "Times and place of a published event change through Reschedule, so families are told.",
            ),
            "immutable-after-publish" => (
                "Классы и профессиональную область нельзя менять после публикации.",
                "Grades and profession area are fixed once the event is published.",
            ),
            "capacity-below-seats" => (
                "Мест не может быть меньше, чем уже занято.",
                "Capacity cannot go below the seats already held.",
            ),
            "event-not-open" => (
                "Пробу нельзя перенести: она не опубликована или уже началась.",
                "The event cannot be moved: it is not published or has already started.",
            ),
            _ => return None,
        };
        Some(if en { english } else { ru })
    }
}
