//! The `arbiter` command: thin shells over the library.

mod cli;

/// See Cargo.toml: the decision loop's small allocations are cheaper here than in glibc's.
/// `--features system-allocator` leaves it out, so heap profilers that watch the system
/// allocator see every allocation (`scripts/heap-profile.sh`).
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Memory one thread frees from another thread's pages goes back to that thread's heap only
/// when it next allocates from them, or collects. The service's workers free each other's
/// records all day; each worker collects when it goes idle, at most every `EVERY`, so what
/// was freed can be returned to the system instead of waiting in a list.
pub fn collect_freed_memory() {
    #[cfg(not(feature = "system-allocator"))]
    {
        use std::cell::Cell;
        use std::time::{Duration, Instant};
        const EVERY: Duration = Duration::from_secs(2);
        extern "C" {
            fn mi_collect(force: bool);
        }
        thread_local!(static LAST: Cell<Option<Instant>> = const { Cell::new(None) });
        let now = Instant::now();
        if LAST.get().is_some_and(|at| now.duration_since(at) < EVERY) {
            return;
        }
        LAST.set(Some(now));
        // SAFETY: mimalloc is this process's allocator; collecting the calling thread's heap
        // is safe at any point where that thread holds no allocator lock, as when idle.
        unsafe { mi_collect(false) }
    }
}

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "arbiter",
    version,
    about = "Coordinates autonomous operations agents against declared business intent"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a sales-surge scenario under every strategy and compare them.
    Simulate {
        /// Scenario file (scenarios/*.toml).
        scenario: PathBuf,
        /// Where to write report.json (default out/<scenario name>/).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run the quality suite: every topology under every kind of day, budget binding or not,
    /// and print one line per case.
    Suite {
        /// The retail shop only.
        #[arg(long)]
        quick: bool,
        /// Keep every case's scenario (graph, overlay, intents) under this directory, to run
        /// one again with `arbiter simulate DIR/<case>/scenario.toml`.
        #[arg(long)]
        keep: Option<PathBuf>,
    },
    /// Decide one batch of proposals offline and print one decision per line (JSON lines).
    Decide(cli::decide::DecideArgs),
    /// Validate intent files (and agent roles); errors name file, line and column.
    Check {
        /// Directory of intent files and agents.toml.
        dir: PathBuf,
        /// Also check SLO and freeze services against this graph (Jaeger links JSON).
        #[arg(long)]
        graph: Option<PathBuf>,
        #[arg(long, requires = "graph")]
        overlay: Option<PathBuf>,
    },
    /// The service: proposals from NATS, decisions back, every decision audited.
    Serve(cli::serve::ServeArgs),
    /// Drive proposals at a set rate through a running `arbiter serve`; report throughput
    /// and latency percentiles beside the raw NATS round trip.
    Loadgen(cli::loadgen::LoadgenArgs),
    /// Decide a recorded history again under other intents; list every verdict that would
    /// change.
    Replay(cli::replay::ReplayArgs),
    /// Check, read or export an audit trail: a file, or the replicated trail of
    /// `serve --replica` on a NATS server (`nats://host:port`).
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Write the JSON Schemas of proposal, decision and outcome.
    Schema {
        #[arg(long, default_value = "schema")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the chain: reports the first edited, removed or reordered record.
    Verify {
        /// An audit file, or a NATS URL for the replicated trail.
        trail: String,
    },
    /// Tell the story of one proposal: who asked, what the arbiter knew, what decided it.
    Show {
        /// An audit file, or a NATS URL for the replicated trail.
        trail: String,
        proposal_id: String,
    },
    /// Write the replicated trail on a NATS server as an audit file, and check it.
    Export {
        /// The NATS server (`nats://host:port`).
        nats: String,
        /// The file to write (it must not exist).
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.command {
        Command::Decide(a) => cli::decide::run(a),
        Command::Serve(a) => cli::serve::run(a),
        Command::Loadgen(a) => cli::loadgen::run(a),
        Command::Replay(a) => cli::replay::run(a),
        Command::Simulate { scenario, out } => cli::simulate::run(&scenario, out),
        Command::Suite { quick, keep } => cli::suite::run(quick, keep),
        Command::Check {
            dir,
            graph,
            overlay,
        } => cli::check::run(&dir, graph.as_deref(), overlay.as_deref()),
        Command::Schema { out } => cli::schema::run(&out),
        Command::Audit(AuditCommand::Verify { trail }) => cli::audit::verify(&trail),
        Command::Audit(AuditCommand::Show { trail, proposal_id }) => {
            cli::audit::show(&trail, &proposal_id)
        }
        Command::Audit(AuditCommand::Export { nats, out }) => cli::audit::export(&nats, &out),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", cli::describe(&e));
            ExitCode::from(2)
        }
    }
}
