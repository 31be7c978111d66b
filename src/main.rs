//! The `bilet` command: parses the command line and hands off to the library.

use std::path::PathBuf;
use std::process::ExitCode;

use bilet::settings::Settings;
use bilet::startup::{self, Application, ProcessRole};
use bilet::{admin, contract, telemetry};
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "bilet",
    version,
    about = "Backend and notification hub of the career-guidance program"
)]
struct Cli {
    /// Settings file (TOML); defaults to $BILET_CONFIG, then ./bilet.toml if present.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API and, in the same process, the background workers.
    Serve {
        /// Run the API alone, without workers.
        #[arg(long)]
        no_workers: bool,
    },
    /// Run the background workers alone (several may run side by side).
    Work,
    /// Apply the database migrations (creating the database if needed) and exit.
    Migrate,
    /// Seed an event with 50 families, cancel it, and watch the notices go out live, in a
    /// database and a Redis prefix of its own; then keep the simulators up until Ctrl-C.
    Demo {
        /// Exit when every notice is out instead of waiting for Ctrl-C.
        #[arg(long)]
        exit: bool,
    },
    /// A first-run check on one screen: PostgreSQL, Redis, migrations, channels, the
    /// simulators and what production still needs. Changes nothing; exits 1 when
    /// something is broken.
    Doctor,
    /// Operator commands.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    #[cfg(feature = "simulators")]
    /// Run the local simulators of APNs, FCM, RuStore, the SMS gateway and SMTP on the
    /// ports in the channel settings, until interrupted.
    Simulate {
        /// `free` takes free ports; a number N moves them all to N+1…N+4 (APNs, FCM,
        /// RuStore, SMS), N+25 (SMTP) and N+26 (its inspection API). Without it: the
        /// settings' ports, 17001–17004, 17025 and 17026 by default. Where they went is
        /// printed and written to simulators.env in the credentials directory.
        #[arg(long, value_name = "free|N")]
        ports: Option<String>,
        /// Where to keep the credentials and write channels.toml and simulators.env
        /// (default: the settings' credentials_dir, push-config/simulator). Two
        /// simulators side by side each need their own.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Answer each provider request after this long, like a real provider (e.g.
        /// 40ms); overrides the settings' `latency`.
        #[arg(long, value_name = "DURATION", value_parser = bilet::settings::parse_duration)]
        latency: Option<std::time::Duration>,
        /// Up to this much longer, at random (e.g. 10ms).
        #[arg(long, value_name = "DURATION", value_parser = bilet::settings::parse_duration)]
        latency_jitter: Option<std::time::Duration>,
    },
    /// Write the OpenAPI document the mobile apps build against.
    Contract {
        /// Do not write; exit non-zero and show the difference if the file is stale.
        #[arg(long)]
        check: bool,
        /// Where the document lives.
        #[arg(long, default_value = contract::DEFAULT_PATH)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a staff account (admin or organizer); prints a generated password once
    /// unless --password-stdin is given.
    CreateUser {
        #[arg(long, value_enum)]
        role: admin::StaffRole,
        #[arg(long)]
        email: String,
        /// The organization (площадка) an organizer belongs to; created if new.
        #[arg(long)]
        organization: Option<String>,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Re-encrypt all personal data under the current data key (the last one in
    /// BILET_KEYS_DATA), while the service runs.
    RotateDataKey,
    /// Print a new random key for BILET_KEYS_DATA or BILET_KEYS_TOKEN.
    GenerateKey {
        /// The key's id, e.g. d2.
        id: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Contract { check, out } = &cli.command {
        return run_contract(*check, out);
    }
    if let Command::Admin {
        command: AdminCommand::GenerateKey { id },
    } = &cli.command
    {
        println!("{}", admin::generate_key(id));
        return ExitCode::SUCCESS;
    }
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("bilet: invalid settings:");
            for error in &err.0 {
                eprintln!("  {error}");
            }
            return ExitCode::from(2);
        }
    };
    telemetry::init(&settings.log);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("bilet: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bilet: {}", telemetry::error_chain(err.as_ref()));
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve { no_workers } => {
            let app = Application::build(settings, !no_workers).await?;
            app.run(shutdown_on_signal()).await
        }
        Command::Work => {
            let state = startup::connect(settings, ProcessRole::Worker).await?;
            startup::run_workers(state, shutdown_on_signal()).await
        }
        Command::Migrate => {
            let db = bilet::store::connect(&settings.database).await?;
            bilet::store::migrate(&db).await?;
            db.close().await;
            println!("migrations applied");
            Ok(())
        }
        Command::Admin { command } => run_admin(command, settings).await,
        Command::Doctor => {
            let report = bilet::doctor::examine(&settings).await;
            print!("{report}");
            if report.healthy() {
                Ok(())
            } else {
                Err(anyhow::anyhow!("something above is broken (FAIL)"))
            }
        }
        Command::Demo { exit } => run_demo(settings, exit).await,
        #[cfg(feature = "simulators")]
        Command::Simulate {
            ports,
            dir,
            latency,
            latency_jitter,
        } => {
            let mut simulators =
                bilet::notify::providers::PushConfig::load(&settings.push_config)?.simulators;
            let host = simulators.binds.host;
            match ports.as_deref() {
                None => {}
                Some("free") => simulators.binds = bilet::simulators::Binds::free(host),
                Some(base) => {
                    let base = base.parse::<u16>().map_err(|_| {
                        anyhow::anyhow!("--ports takes `free` or a port number, not `{base}`")
                    })?;
                    simulators.binds = bilet::simulators::Binds::from_base(host, base)
                        .map_err(|reason| anyhow::anyhow!(reason))?;
                }
            }
            if let Some(dir) = dir {
                simulators.credentials_dir = dir;
            }
            if let Some(base) = latency {
                simulators.latency.base = base;
            }
            if let Some(jitter) = latency_jitter {
                simulators.latency.jitter = jitter;
            }
            bilet::simulators::run_all(&simulators, shutdown_on_signal(), |line| {
                println!("{line}")
            })
            .await?;
            Ok(())
        }
        Command::Contract { .. } => unreachable!("handled before settings are loaded"),
    }
}

async fn run_admin(command: AdminCommand, settings: Settings) -> anyhow::Result<()> {
    let state = startup::connect(settings, ProcessRole::Admin).await?;
    match command {
        AdminCommand::CreateUser {
            role,
            email,
            organization,
            password_stdin,
        } => {
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                Some(line.trim_end_matches(['\r', '\n']).to_owned())
            } else {
                None
            };
            let created =
                admin::create_user(&state, role, &email, organization.as_deref(), password).await?;
            println!("created account {}", created.account_id);
            if let Some(password) = created.generated_password {
                println!("password (shown once): {password}");
            }
        }
        AdminCommand::RotateDataKey => {
            let report = admin::rotate_data_key(&state).await?;
            println!(
                "re-encrypted {} values under key {} ({} changed concurrently and were already current)",
                report.reencrypted,
                state.vault.cipher().current_key_id(),
                report.raced
            );
        }
        AdminCommand::GenerateKey { .. } => unreachable!("handled before settings are loaded"),
    }
    state.db.close().await;
    Ok(())
}

async fn run_demo(mut settings: Settings, exit: bool) -> anyhow::Result<()> {
    // A database and a Redis prefix of its own: the demo never shares its notices with a
    // service running on the configured ones.
    settings.database = bilet::demo::database(&settings.database)?;
    let db = bilet::store::connect(&settings.database).await?;
    bilet::store::migrate(&db).await?;
    let installation = bilet::store::installation::id(&db).await?;
    db.close().await;
    settings.redis.prefix = bilet::demo::prefix(&settings.redis.prefix, installation);
    let redis = bilet::queue::connect(&settings.redis).await?;
    let attached = redis.live_processes().await?;
    if !attached.is_empty() {
        anyhow::bail!(
            "another `bilet demo` is running on the database {} (Redis prefix `{}`); \
             stop it first, or give this one another database with BILET_DATABASE_URL",
            settings.database.address(),
            settings.redis.prefix
        );
    }
    println!(
        "demo database {}, Redis prefix `{}`",
        settings.database.address(),
        settings.redis.prefix
    );
    let state = startup::connect(settings, ProcessRole::Worker).await?;
    let shutdown = shutdown_on_signal();
    let supervisor = bilet::worker::Supervisor::new(shutdown.clone(), state.metrics.clone());
    startup::register_workers(&supervisor, &state);
    println!("seeding an event with {} families…", bilet::demo::FAMILIES);
    let seeded = bilet::demo::seed(&state).await?;
    println!(
        "cancelling event {} (it starts in 30 hours: urgent)…",
        seeded.event
    );
    bilet::demo::cancel(&state, seeded.event).await?;
    let report = bilet::demo::watch(
        &state,
        &seeded,
        std::time::Duration::from_secs(60),
        |table| println!("{table}"),
    )
    .await?;
    println!(
        "{}",
        if report.all_out() {
            "every notice is out:"
        } else if report.settled {
            "not every notice went out:"
        } else {
            "still delivering after a minute:"
        }
    );
    for line in report.summary() {
        println!("  {line}");
    }
    let pages = bilet::demo::inspection(&state);
    if !pages.is_empty() {
        println!("what the simulators received:");
        for line in pages {
            println!("  {line}");
        }
    }
    if !exit && !shutdown.is_cancelled() {
        println!("the simulators stay up so these pages work; Ctrl-C to stop");
        shutdown.cancelled().await;
    }
    supervisor
        .shutdown(state.settings.http.shutdown_grace)
        .await;
    state.channels.shutdown().await;
    state.db.close().await;
    if !report.all_out() {
        anyhow::bail!("not every notice went out; see the table above");
    }
    Ok(())
}

/// A token cancelled on the first SIGTERM or SIGINT.
fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut term) => {
                    tokio::select! {
                        _ = ctrl_c => {}
                        _ = term.recv() => {}
                    }
                }
                Err(_) => {
                    let _ = ctrl_c.await;
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = ctrl_c.await;
        }
        tracing::info!("shutdown requested");
        cancel.cancel();
    });
    token
}

fn run_contract(check: bool, path: &std::path::Path) -> ExitCode {
    if check {
        match contract::check(path) {
            Ok(()) => {
                println!("{} is up to date", path.display());
                ExitCode::SUCCESS
            }
            Err(diff) => {
                eprintln!(
                    "bilet: {} is stale; run `bilet contract` and commit the result:\n{diff}",
                    path.display()
                );
                ExitCode::FAILURE
            }
        }
    } else {
        match contract::write(path) {
            Ok(()) => {
                println!("wrote {}", path.display());
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("bilet: cannot write {}: {err}", path.display());
                ExitCode::FAILURE
            }
        }
    }
}
