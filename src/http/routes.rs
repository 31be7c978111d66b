//! The methods each route answers. The edge does not know the routes: whoever builds them
//! hands it this table (`api::route_table`, from the published document plus the pages),
//! and the edge uses it to name the methods in `Allow` on a 405, to leave unread the body
//! of a method a route lacks, and to judge an `Idempotency-Key` only on an operation that
//! exists.

use poem::http::Method;

/// Route templates (`/v1/events/{id}`) with the methods each answers.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    /// Segments of each template, with its methods in upper case, sorted.
    routes: Vec<(Vec<String>, Vec<String>)>,
}

impl RouteTable {
    /// The routes of an OpenAPI document's `paths`; none when it is not one.
    pub fn from_openapi(document: &str) -> Self {
        let mut table = Self::default();
        let document: serde_json::Value = serde_json::from_str(document).unwrap_or_default();
        if let Some(paths) = document["paths"].as_object() {
            for (path, item) in paths {
                let methods: Vec<&str> = item
                    .as_object()
                    .map(|item| item.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                table.add(path, &methods);
            }
        }
        table
    }

    /// Adds the route `template`, answering `methods`.
    pub fn add(&mut self, template: &str, methods: &[&str]) {
        let mut methods: Vec<String> = methods.iter().map(|m| m.to_ascii_uppercase()).collect();
        methods.sort();
        self.routes.push((segments(template), methods));
    }

    /// The methods the route at `path` answers, as an `Allow` header value; the most
    /// specific template wins (`/v1/me/children` over `/v1/me/{id}`).
    pub fn allow(&self, path: &str) -> Option<String> {
        let given: Vec<&str> = path.split('/').collect();
        self.routes
            .iter()
            .filter(|(template, _)| matches(template, &given))
            .max_by_key(|(template, _)| template.iter().filter(|t| !is_parameter(t)).count())
            .map(|(_, methods)| methods.join(", "))
    }

    /// The route at `path` exists but has no such method: the router answers 405 without
    /// reading the body.
    pub fn lacks_method(&self, path: &str, method: &Method) -> bool {
        self.allow(path).is_some_and(|methods| {
            !methods
                .split(", ")
                .any(|allowed| allowed == method.as_str())
        })
    }

    /// Some route matching `path` answers `method`: the request reaches a handler.
    pub fn has(&self, method: &Method, path: &str) -> bool {
        let given: Vec<&str> = path.split('/').collect();
        self.routes.iter().any(|(template, methods)| {
            matches(template, &given) && methods.iter().any(|m| m == method.as_str())
        })
    }
}

fn segments(path: &str) -> Vec<String> {
    path.split('/').map(str::to_owned).collect()
}

fn is_parameter(segment: &str) -> bool {
    segment.starts_with('{') && segment.ends_with('}')
}

fn matches(template: &[String], given: &[&str]) -> bool {
    template.len() == given.len()
        && template
            .iter()
            .zip(given)
            .all(|(t, g)| t == g || (is_parameter(t) && !g.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RouteTable {
        RouteTable::from_openapi(
            r#"{"paths": {
                "/health": {"get": {}},
                "/v1/me/children": {"get": {}, "post": {}},
                "/v1/me/{id}": {"delete": {}},
                "/v1/events/{id}/cancel": {"post": {}}
            }}"#,
        )
    }

    #[test]
    fn allow_names_the_methods_of_the_most_specific_template() {
        let mut table = table();
        table.add("/a/{token}", &["GET", "POST"]);
        assert_eq!(table.allow("/health").as_deref(), Some("GET"));
        assert_eq!(table.allow("/v1/me/children").as_deref(), Some("GET, POST"));
        assert_eq!(table.allow("/v1/me/other").as_deref(), Some("DELETE"));
        assert_eq!(table.allow("/a/some-token").as_deref(), Some("GET, POST"));
        assert_eq!(table.allow("/nowhere"), None);
        assert!(table.lacks_method("/health", &Method::POST));
        assert!(!table.lacks_method("/health", &Method::GET));
        assert!(!table.lacks_method("/nowhere", &Method::POST));
    }

    #[test]
    fn only_existing_routes_and_methods_are_operations() {
        let table = table();
        assert!(table.has(&Method::POST, "/v1/events/abc/cancel"));
        assert!(!table.has(&Method::POST, "/v1/events//cancel"));
        assert!(!table.has(&Method::PATCH, "/v1/me/children"));
        assert!(!table.has(&Method::POST, "/health"));
    }
}
