//! `GET /health` (liveness: the process answers, nothing else is touched) and `GET /ready`
//! (readiness: PostgreSQL and Redis both answer).

use std::time::Duration;

use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use super::ApiTag;
use crate::http::problem::Problem;
use crate::state::AppState;
use crate::store;

/// How long each dependency gets to answer a readiness check.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub struct HealthApi;

/// The process is alive.
#[derive(Debug, Object)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
}

/// Every dependency answered.
#[derive(Debug, Object)]
pub struct Readiness {
    /// Always `ready`.
    pub status: String,
    /// PostgreSQL answered a query.
    pub postgres: String,
    /// Redis answered PING.
    pub redis: String,
}

#[derive(ApiResponse)]
pub enum GetHealthResponse {
    /// The process is alive.
    #[oai(status = 200)]
    Alive(Json<Health>),
}

#[derive(ApiResponse)]
pub enum GetReadyResponse {
    /// PostgreSQL and Redis both answered; a 503 problem names the one that did not.
    #[oai(status = 200)]
    Ready(Json<Readiness>),
}

#[OpenApi(tag = "ApiTag::Operations")]
impl HealthApi {
    /// Liveness: answers as long as the process runs; touches no dependency.
    #[oai(path = "/health", method = "get", operation_id = "get_health")]
    async fn get_health(&self) -> GetHealthResponse {
        GetHealthResponse::Alive(Json(Health {
            status: "ok".to_owned(),
        }))
    }

    /// Readiness: 200 when PostgreSQL and Redis answer, else 503 naming what is down.
    #[oai(path = "/ready", method = "get", operation_id = "get_ready")]
    async fn get_ready(&self, state: Data<&AppState>) -> Result<GetReadyResponse, Problem> {
        let (postgres, redis) = tokio::join!(
            store::database::ping(&state.db, CHECK_TIMEOUT),
            state.redis.ping(CHECK_TIMEOUT)
        );
        let mut down = Vec::new();
        for (name, result) in [("postgres", &postgres), ("redis", &redis)] {
            match result {
                Ok(()) => state.dependencies.observe(name, Ok(())),
                Err(reason) => {
                    state.dependencies.observe(name, Err(reason));
                    down.push(name);
                }
            }
        }
        if state.prefix_lost.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(Problem::dependency_unavailable(
                "not ready: another installation holds this Redis prefix (BILET_REDIS_PREFIX)",
            ));
        }
        if down.is_empty() {
            Ok(GetReadyResponse::Ready(Json(Readiness {
                status: "ready".to_owned(),
                postgres: "up".to_owned(),
                redis: "up".to_owned(),
            })))
        } else {
            Err(Problem::dependency_unavailable(format!(
                "not ready: {} down",
                down.join(" and ")
            )))
        }
    }
}
