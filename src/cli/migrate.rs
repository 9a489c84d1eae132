//! `uptimer migrate [up|down|status]`: the dbmate-compatible migrations embedded in the binary.

use std::path::Path;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::config::{DatabaseUrl, Env, PostgresSettings};
use crate::postgres::{ConnectOptions, PgError, migrate, partitions};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Action {
    /// Apply every pending migration, then create the daily partitions ahead (the default).
    Up,
    /// Roll back the latest applied migration (as `dbmate rollback`).
    Down,
    /// List the migrations, applied ([X]) or pending ([ ]); exits 1 when any is pending.
    Status,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[arg(value_enum, default_value_t = Action::Up)]
    pub action: Action,
    /// libpq URL of the database; default: DATABASE_URL (environment or ./configuration.env).
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
}

pub fn migrate(args: MigrateArgs) -> ExitCode {
    let env = match Env::load(Path::new("configuration.env")) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("uptimer: configuration.env: {e}");
            return ExitCode::from(super::EXIT_CONFIG);
        }
    };
    let settings = match PostgresSettings::from_env(&env.without(if args.database_url.is_some() {
        &["DATABASE_URL"]
    } else {
        &[]
    })) {
        Ok(s) => s,
        Err(e) => return super::config_error(&e),
    };
    let url = match &args.database_url {
        Some(u) => DatabaseUrl::new(u.as_str()),
        None => match settings.require_url("uptimer migrate (or pass --database-url)") {
            Ok(u) => u.clone(),
            Err(e) => return super::config_error(&e.into()),
        },
    };
    let opts = match ConnectOptions::parse(&url, settings.ssl_ca_file.as_deref()) {
        Ok(o) => o,
        Err(e) => {
            return super::config_error(&crate::config::ConfigError::new(
                "DATABASE_URL",
                url.masked(),
                e,
            ));
        }
    };
    super::init_logging("warn");
    super::runtime().block_on(async {
        match run(args.action, &opts, settings.retention_days).await {
            Ok(code) => code,
            Err(e) => {
                eprintln!("uptimer: migrate {}: {url}: {e}", name(args.action));
                ExitCode::FAILURE
            }
        }
    })
}

fn name(a: Action) -> &'static str {
    match a {
        Action::Up => "up",
        Action::Down => "down",
        Action::Status => "status",
    }
}

async fn run(
    action: Action,
    opts: &ConnectOptions,
    retention_days: Option<u32>,
) -> Result<ExitCode, PgError> {
    let mut client = match opts.connect().await {
        // As `dbmate up`: create the database when it does not exist yet.
        Err(PgError::Db(e))
            if action == Action::Up
                && e.code() == Some(&tokio_postgres::error::SqlState::INVALID_CATALOG_NAME) =>
        {
            create_database(opts).await?;
            opts.connect().await?
        }
        other => other?,
    };
    match action {
        Action::Up => {
            let applied = migrate::up(&mut client).await?;
            if applied.is_empty() {
                println!(
                    "nothing to apply: the database is up to date ({} migrations)",
                    migrate::FILES.len()
                );
            }
            for f in &applied {
                println!("applied {f}");
            }
            let (made, dropped) = partitions::maintain(&mut client, retention_days).await?;
            if !made.is_empty() {
                println!("created {} daily partition(s)", made.len());
            }
            for d in dropped {
                println!("dropped expired partition {d}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Action::Down => {
            match migrate::down(&mut client).await? {
                Some(f) => println!("rolled back {f}"),
                None => println!("nothing to roll back"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Action::Status => {
            let done = migrate::applied(&client).await?;
            let all = migrate::migrations();
            let mut pending = 0;
            for m in &all {
                let applied = done.contains(&m.version);
                pending += usize::from(!applied);
                println!("[{}] {}", if applied { "X" } else { " " }, m.file);
            }
            println!();
            println!("Applied: {}", all.len() - pending);
            println!("Pending: {pending}");
            Ok(if pending == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

/// Creates the URL's database, connected to the server's `postgres` database.
async fn create_database(opts: &ConnectOptions) -> Result<(), PgError> {
    let name = opts
        .pg
        .get_dbname()
        .or(opts.pg.get_user())
        .unwrap_or("postgres")
        .to_owned();
    let mut admin = opts.clone();
    admin.pg.dbname("postgres");
    let client = admin.connect().await?;
    client
        .batch_execute(&format!(
            "CREATE DATABASE \"{}\"",
            name.replace('"', "\"\"")
        ))
        .await?;
    println!("created database {name}");
    Ok(())
}
