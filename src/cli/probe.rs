//! `uptimer probe URL...`: probe once, print a table (or JSON lines), exit 0 when all are up.
//! On a terminal the rows come as the results do, within the terminal's width (probe_table).

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::probe_table::{self, Layout, Output};
use crate::config::target::masked_url;
use crate::config::{Interval, Overrides, TlsVerify, parse};
use crate::event::{Event, ProbeEvent};
use crate::pipeline::{SchedulerStats, scheduler};
use crate::readers::probes::Probers;
use crate::writers::stdout::encode;

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// URLs to check: http(s)://, tcp://host:port, udp://host:port, tls://host:port,
    /// starttls://host:port, icmp://host, grpc(s)://host:port (docs/checks.md); any number,
    /// checked concurrently. A DNS check needs a dns: section: use `run --config`. A lone `-`
    /// reads more URLs from stdin, one per line (# comments and blank lines skipped; at most
    /// 10,000,000 lines).
    #[arg(required = true, value_name = "URL")]
    urls: Vec<String>,
    /// A regex every response body must match.
    #[arg(long)]
    regex: Option<String>,
    /// A condition every URL must meet (repeatable; all must hold), replacing the default
    /// verdict (2xx/3xx and --regex): with conditions a 500 is up unless one says otherwise.
    /// Gatus's language, see docs/conditions.md. Example: --condition '[STATUS] == 200'
    /// --condition '[BODY].status == UP'. Exit status 2 when one cannot be parsed.
    #[arg(long = "condition", value_name = "CONDITION")]
    conditions: Vec<String>,
    /// A condition that marks an up URL as degraded (repeatable; any one suffices); degraded
    /// still exits 0. Example: --degraded-if '[RESPONSE_TIME] > 800'.
    #[arg(long = "degraded-if", value_name = "CONDITION")]
    degraded_if: Vec<String>,
    /// Seconds before a probe is abandoned (fractions allowed) [default: PROBE_TIMEOUT or 10].
    #[arg(long, value_parser = parse::seconds)]
    timeout: Option<std::time::Duration>,
    /// Print one JSON event per line instead of a table.
    #[arg(long)]
    json: bool,
    /// Print each row as its result arrives (the default on a terminal) instead of the whole
    /// table, in command-line order, at the end.
    #[arg(long, conflicts_with = "json")]
    stream: bool,
    /// Cut table lines to this many characters, long URLs first (0 = never) [default: when
    /// streaming, COLUMNS, else the terminal's width, else 80; otherwise no limit]. --json
    /// output is never cut.
    #[arg(long, value_name = "COLUMNS")]
    width: Option<usize>,
    /// Do not verify TLS certificates (their expiry is still reported).
    #[arg(long, short = 'k')]
    insecure: bool,
    /// Probes in flight at once [default: PROBE_CONCURRENCY or 512].
    #[arg(long)]
    concurrency: Option<usize>,
}

pub fn probe(args: ProbeArgs) -> ExitCode {
    let flags = Overrides {
        urls: args.urls.clone(),
        regex: args.regex.clone(),
        timeout: args.timeout,
        interval: Some(Interval::Once),
        tls_verify: args.insecure.then_some(TlsVerify::No),
        conditions: args.conditions.clone(),
        degraded_if: args.degraded_if.clone(),
        targets_file: None,
        url_placeholders: false,
    };
    // Only the URLs on the command line are probed.
    let mut settings = match super::load_settings(
        None,
        &["PROBE_URLS", "PROBE_REGEXES", "DISTRIBUTED_WORKERS_ENABLED"],
        &flags,
    ) {
        Ok(s) => s,
        Err(e) => return super::config_error(&e),
    };
    if settings.targets.is_empty() {
        eprintln!("uptimer: no URLs to probe: stdin (-) had none");
        return ExitCode::from(super::EXIT_CONFIG);
    }
    if let Err(code) = super::refuse_push_targets(&settings, "probe") {
        return code;
    }
    if let Some(c) = args.concurrency {
        settings.probe.concurrency = c.max(1);
    }
    super::init_logging(&settings.log_level);
    super::runtime().block_on(async move {
        let prober = match Probers::new(&settings.probe) {
            Ok(p) => Arc::new(p),
            Err(e) => {
                eprintln!("uptimer: {e}");
                return ExitCode::from(super::EXIT_CONFIG);
            }
        };
        for t in &settings.targets {
            if let Err(e) = prober.check(t) {
                eprintln!("uptimer: PROBE_TLS_VERIFY: {e}");
                return ExitCode::from(super::EXIT_CONFIG);
            }
        }
        // The table follows the order of the command line.
        let order: HashMap<String, usize> = settings
            .targets
            .iter()
            .enumerate()
            .map(|(i, t)| (t.id.clone(), i))
            .collect();
        let shape = Output::decide(
            args.stream,
            args.width,
            std::io::stdout().is_terminal(),
            // COLUMNS when the user exported it, else what the terminal says it is.
            std::env::var("COLUMNS")
                .ok()
                .or_else(|| terminal_size::terminal_size().map(|(w, _)| w.0.to_string()))
                .as_deref(),
        );
        let layout = (shape.stream && !args.json).then(|| {
            let urls: Vec<String> = settings
                .targets
                .iter()
                .map(|t| masked_url(&t.url))
                .collect();
            let timeout = settings
                .targets
                .iter()
                .map(|t| t.timeout)
                .max()
                .unwrap_or_default();
            Layout::for_stream(urls.iter().map(String::as_str), timeout, shape.width)
        });
        let (tx, mut rx) = mpsc::channel(1024);
        let stop = CancellationToken::new();
        tokio::spawn(scheduler::run(
            prober,
            scheduler::Feed::fixed(std::mem::take(&mut settings.targets)),
            settings.probe.concurrency,
            settings.event_format,
            tx,
            stop,
            Arc::new(SchedulerStats::default()),
        ));
        // With --json events stream out as they come and are not kept. The loop runs as a task
        // on the runtime's workers: on the main thread every event would wake it up.
        let json = args.json;
        let output = tokio::spawn(async move {
            let mut table_rows: Vec<ProbeEvent> = Vec::new();
            let (mut up, mut total) = (0usize, 0usize);
            let mut stdout = std::io::BufWriter::new(std::io::stdout());
            let mut buf = Vec::new();
            if let Some(l) = &layout {
                let _ = stdout.write_all(l.header().as_bytes());
                let _ = stdout.flush();
            }
            while let Some(event) = rx.recv().await {
                let Event::Probe(p) = event else { continue };
                total += 1;
                up += usize::from(p.up == Some(true));
                if json {
                    buf.clear();
                    encode(&Event::Probe(p), false, &mut buf);
                    let _ = stdout.write_all(&buf);
                } else if let Some(l) = &layout {
                    let _ = stdout.write_all(l.row(&p).as_bytes());
                    let _ = stdout.flush();
                } else {
                    table_rows.push(*p);
                }
            }
            if !json && layout.is_some() {
                let _ = stdout.write_all(probe_table::summary(up, total).as_bytes());
            } else if !json {
                table_rows.sort_by_key(|e| {
                    e.target
                        .as_ref()
                        .and_then(|id| order.get(id))
                        .copied()
                        .unwrap_or(usize::MAX)
                });
                let table = probe_table::table(&table_rows, shape.width);
                let _ = stdout.write_all(table.as_bytes());
            }
            let _ = stdout.flush();
            (up, total)
        });
        let (up, total) = output.await.unwrap_or((0, 1));
        if up == total {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    })
}
